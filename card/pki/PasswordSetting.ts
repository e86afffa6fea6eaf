/**
 * Password registration (seed 004, Figs. 13–14): at issue the card receives a password setting
 * number Ns and the centre's signatures SA(Ns) and SA(IDU‖SA(Ns)). The user must key Ns (checked
 * by the card, three tries) before registering a password.
 *
 * Here SA(Ns‖IDU) is {@link PasswordSetting}: it binds Ns to one card and **never leaves the card**
 * (a signature over a short number lets anyone holding it test guesses of Ns offline). What the
 * card shows a terminal is SA(IDU‖SA(Ns)), {@link PasswordTicket}: it names the card and carries
 * SHA-256 of the PasswordSetting's DER — which reveals nothing about Ns, because it covers the
 * centre's signature, which nobody but the centre can compute for a guessed Ns.
 *
 * ```asn1
 * PasswordSetting ::= SEQUENCE { tbs TBSPasswordSetting, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSPasswordSetting ::= [APPLICATION 6] IMPLICIT SEQUENCE {
 *   version Version, centreId Id, cardId Id, settingNumber OCTET STRING (SIZE (4..16)), notAfter Time }
 * PasswordTicket ::= SEQUENCE { tbs TBSPasswordTicket, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSPasswordTicket ::= [APPLICATION 7] IMPLICIT SEQUENCE {
 *   version Version, centreId Id, cardId Id, settingDigest OCTET STRING (SIZE (32)), notAfter Time }
 * ```
 */
import { createHash } from 'node:crypto';
import type { Signer } from '../crypto/signature.js';
import { checkBytes, checkTime, enc, type Node } from './internal/der.js';
import { SignedStructure, decodeSigned, signFields, type SignatureParts } from './internal/signed.js';
import {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  PKI_VERSION,
  SETTING_NUMBER_MAX_LENGTH,
  SETTING_NUMBER_MIN_LENGTH,
  checkId,
} from './limits.js';

export const TAG_TBS_PASSWORD_SETTING = 6;
export const TAG_TBS_PASSWORD_TICKET = 7;
export const SETTING_DIGEST_LENGTH = 32;

export interface PasswordSettingFields {
  readonly centreId: Uint8Array;
  /** IDU */
  readonly cardId: Uint8Array;
  /** Ns, 4..16 bytes (the digits as keyed, ASCII). */
  readonly settingNumber: Uint8Array;
  readonly notAfter: number;
}

/** SA(Ns‖IDU), kept inside the card. See the file comment. */
export class PasswordSetting extends SignedStructure implements PasswordSettingFields {
  readonly centreId: Uint8Array;
  readonly cardId: Uint8Array;
  readonly settingNumber: Uint8Array;
  readonly notAfter: number;

  /** @throws TypeError/RangeError naming the field. */
  constructor(f: PasswordSettingFields & SignatureParts) {
    super(f);
    this.centreId = checkId('centreId', f.centreId);
    this.cardId = checkId('cardId', f.cardId);
    this.settingNumber = checkBytes(
      'settingNumber',
      f.settingNumber,
      SETTING_NUMBER_MIN_LENGTH,
      SETTING_NUMBER_MAX_LENGTH,
    );
    this.notAfter = checkTime('notAfter', f.notAfter);
  }

  static sign(fields: PasswordSettingFields, signer: Signer): PasswordSetting {
    return signFields(fields, signer, (f) => new PasswordSetting(f));
  }

  /** @throws MalformedDataError (kind 'password-setting') with the offset; never another error. */
  static decode(der: Uint8Array): PasswordSetting {
    return decodeSigned(
      der,
      'password-setting',
      TAG_TBS_PASSWORD_SETTING,
      5,
      (n) => {
        const [ver, centre, card, ns, na] = n as [Node, Node, Node, Node, Node];
        ver.integer('version', PKI_VERSION, PKI_VERSION);
        return {
          centreId: centre.octets('centreId', ID_MIN_LENGTH, ID_MAX_LENGTH),
          cardId: card.octets('cardId', ID_MIN_LENGTH, ID_MAX_LENGTH),
          settingNumber: ns.octets('settingNumber', SETTING_NUMBER_MIN_LENGTH, SETTING_NUMBER_MAX_LENGTH),
          notAfter: na.time('notAfter'),
        };
      },
      (f) => new PasswordSetting(f),
    );
  }

  /** SHA-256 of this setting's DER: the `settingDigest` of its {@link PasswordTicket}. */
  digest(): Uint8Array {
    return Uint8Array.from(createHash('sha256').update(this.encode()).digest());
  }

  protected tbsBlock(): Uint8Array {
    return enc.app(TAG_TBS_PASSWORD_SETTING, [
      enc.int(PKI_VERSION),
      enc.octets(this.centreId),
      enc.octets(this.cardId),
      enc.octets(this.settingNumber),
      enc.time(this.notAfter),
    ]);
  }
}

export interface PasswordTicketFields {
  readonly centreId: Uint8Array;
  readonly cardId: Uint8Array;
  /** {@link PasswordSetting.digest} of the card's setting. */
  readonly settingDigest: Uint8Array;
  readonly notAfter: number;
}

/** SA(IDU‖SA(Ns)), shown by the card to terminals. See the file comment. */
export class PasswordTicket extends SignedStructure implements PasswordTicketFields {
  readonly centreId: Uint8Array;
  readonly cardId: Uint8Array;
  readonly settingDigest: Uint8Array;
  readonly notAfter: number;

  /** @throws TypeError/RangeError naming the field. */
  constructor(f: PasswordTicketFields & SignatureParts) {
    super(f);
    this.centreId = checkId('centreId', f.centreId);
    this.cardId = checkId('cardId', f.cardId);
    this.settingDigest = checkBytes(
      'settingDigest',
      f.settingDigest,
      SETTING_DIGEST_LENGTH,
      SETTING_DIGEST_LENGTH,
    );
    this.notAfter = checkTime('notAfter', f.notAfter);
  }

  static sign(fields: PasswordTicketFields, signer: Signer): PasswordTicket {
    return signFields(fields, signer, (f) => new PasswordTicket(f));
  }

  /** The ticket of `setting` (same centre, card and term), signed by the centre. */
  static forSetting(setting: PasswordSetting, signer: Signer): PasswordTicket {
    if (!(setting instanceof PasswordSetting)) throw new TypeError('setting must be a PasswordSetting');
    return PasswordTicket.sign(
      {
        centreId: setting.centreId,
        cardId: setting.cardId,
        settingDigest: setting.digest(),
        notAfter: setting.notAfter,
      },
      signer,
    );
  }

  /** @throws MalformedDataError (kind 'password-ticket') with the offset; never another error. */
  static decode(der: Uint8Array): PasswordTicket {
    return decodeSigned(
      der,
      'password-ticket',
      TAG_TBS_PASSWORD_TICKET,
      5,
      (n) => {
        const [ver, centre, card, d, na] = n as [Node, Node, Node, Node, Node];
        ver.integer('version', PKI_VERSION, PKI_VERSION);
        return {
          centreId: centre.octets('centreId', ID_MIN_LENGTH, ID_MAX_LENGTH),
          cardId: card.octets('cardId', ID_MIN_LENGTH, ID_MAX_LENGTH),
          settingDigest: d.octets('settingDigest', SETTING_DIGEST_LENGTH, SETTING_DIGEST_LENGTH),
          notAfter: na.time('notAfter'),
        };
      },
      (f) => new PasswordTicket(f),
    );
  }

  protected tbsBlock(): Uint8Array {
    return enc.app(TAG_TBS_PASSWORD_TICKET, [
      enc.int(PKI_VERSION),
      enc.octets(this.centreId),
      enc.octets(this.cardId),
      enc.octets(this.settingDigest),
      enc.time(this.notAfter),
    ]);
  }
}
