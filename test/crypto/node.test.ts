import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { suite } from './suite.js';

suite(new NodeCipherProvider());
