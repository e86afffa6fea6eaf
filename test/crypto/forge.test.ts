import { ForgeCipherProvider } from '../../card/crypto/ForgeCipherProvider.js';
import { suite } from './suite.js';

suite(new ForgeCipherProvider());
