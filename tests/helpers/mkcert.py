#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""mkcert.py: hand-made certificates for the m2m-verify tests.

Writes one PEM certificate on stdout, shaped like an IDevID that m2m-ca
issues under the default idevid profile (shared/spec/profiles.md), signed
with openssl by the issuer's key, with options that each change or break
one field, so that a test can check that exactly that rule trips.

  mkcert.py --issuer-cert CA.crt --issuer-key CA.key --key DEV.key [options]
  mkcert.py --self-signed --key CA.key [options]

The DER is written here by hand (openssl would fix what the tests break);
only the signature comes from openssl (dgst -sign, or pkeyutl for Ed25519).
"""
import argparse
import base64
import datetime
import hashlib
import os
import re
import subprocess
import sys
import tempfile


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items):
    return tlv(0x30, b''.join(items))


def oid(dotted):
    arcs = [int(a) for a in dotted.split('.')]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        enc = [a & 0x7f]
        a >>= 7
        while a:
            enc.append(0x80 | (a & 0x7f))
            a >>= 7
        out += bytes(reversed(enc))
    return tlv(0x06, bytes(out))


def read_tlv(d, o):
    """(tag, content start, content end, next offset) of the TLV at o."""
    tag = d[o]
    n = d[o + 1]
    o += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(d[o:o + k], 'big')
        o += k
    return tag, o, o + n, o + n


def run(args, data=None):
    return subprocess.run(args, input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def pem_der(path, label):
    """The DER of the first PEM block of label in the file at path."""
    text = open(path).read()
    begin = '-----BEGIN %s-----' % label
    body = text[text.index(begin) + len(begin):
                text.index('-----END %s-----' % label)]
    return base64.b64decode(''.join(body.split()))


def cert_der(path):
    return pem_der(path, 'CERTIFICATE')


def subject_of(der):
    """The subject Name TLV of a DER certificate."""
    _, cs, _, _ = read_tlv(der, 0)
    _, ts, te, _ = read_tlv(der, cs)
    o = ts
    if der[o] == 0xa0:
        o = read_tlv(der, o)[3]
    for _ in range(4):          # serial, signature, issuer, validity
        o = read_tlv(der, o)[3]
    _, _, _, nxt = read_tlv(der, o)
    return der[o:nxt]


def ski_of(path):
    """The keyIdentifier of the certificate's subjectKeyIdentifier."""
    der = cert_der(path)
    i = der.find(bytes.fromhex('0603551d0e'))      # OID 2.5.29.14
    if i < 0:
        return None
    o = i + 5
    if der[o] == 0x01:                              # critical
        o = read_tlv(der, o)[3]
    _, vs, _, _ = read_tlv(der, o)                  # extnValue
    _, ks, ke, _ = read_tlv(der, vs)                # OCTET STRING
    return der[ks:ke]


def key_type(path):
    """p256, p384, rsa or ed25519, from a PKCS#8 private key's algorithm."""
    der = pem_der(path, 'PRIVATE KEY')
    if bytes.fromhex('06032b6570') in der[:20]:
        return 'ed25519'
    if bytes.fromhex('06052b81040022') in der[:40]:
        return 'p384'
    if bytes.fromhex('06082a8648ce3d030107') in der[:40]:
        return 'p256'
    return 'rsa'


SIG_ALG = {
    'p256': ('1.2.840.10045.4.3.2', False, 'sha256'),
    'p384': ('1.2.840.10045.4.3.3', False, 'sha384'),
    'rsa': ('1.2.840.113549.1.1.11', True, 'sha256'),
    'ed25519': ('1.3.101.112', False, None),
}

ATTRS = {'C': '2.5.4.6', 'ST': '2.5.4.8', 'L': '2.5.4.7', 'O': '2.5.4.10',
         'OU': '2.5.4.11', 'CN': '2.5.4.3', 'serialNumber': '2.5.4.5'}


def name(dn, serials, serial_tag):
    rdns = []
    for part in [p for p in dn.split(',') if p]:
        k, v = part.split('=', 1)
        tag = 0x13 if k in ('C', 'serialNumber') else 0x0c
        rdns.append(tlv(0x31, seq(oid(ATTRS[k]), tlv(tag, v.encode()))))
    for s in serials:
        rdns.append(tlv(0x31, seq(oid(ATTRS['serialNumber']),
                                  tlv(serial_tag, s.encode()))))
    return seq(*rdns)


def time_tlv(spec):
    """utc:YYMMDDHHMMSSZ, gen:YYYYMMDDHHMMSSZ, or days from now (+N/-N)."""
    if spec.startswith('utc:'):
        return tlv(0x17, spec[4:].encode())
    if spec.startswith('gen:'):
        return tlv(0x18, spec[4:].encode())
    t = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(days=int(spec))
    if 1950 <= t.year < 2050:
        return tlv(0x17, t.strftime('%y%m%d%H%M%SZ').encode())
    return tlv(0x18, t.strftime('%Y%m%d%H%M%SZ').encode())


def ext(oid_text, value, critical=False):
    parts = [oid(oid_text)]
    if critical:
        parts.append(tlv(0x01, b'\xff'))
    parts.append(tlv(0x04, value))
    return seq(*parts)


KU_BITS = {'digitalSignature': 0, 'nonRepudiation': 1, 'keyEncipherment': 2,
           'dataEncipherment': 3, 'keyAgreement': 4, 'keyCertSign': 5,
           'cRLSign': 6}


def key_usage(names):
    bits = 0
    for n in names.split(','):
        bits |= 0x80 >> KU_BITS[n]
    last = max(KU_BITS[n] for n in names.split(','))
    unused = 7 - last
    return tlv(0x03, bytes([unused, bits]))


def hwmodule(hw_type, ppid):
    return seq(oid(hw_type), tlv(0x04, bytes.fromhex(ppid)))


def other_name(value_der):
    return tlv(0xa0, oid('1.3.6.1.5.5.7.8.4') + tlv(0xa0, value_der))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--issuer-cert')
    p.add_argument('--issuer-key')
    p.add_argument('--key', required=True, help='the subject key (PEM)')
    p.add_argument('--self-signed', action='store_true')
    p.add_argument('--version', type=int, default=3)
    p.add_argument('--serial', help='the INTEGER content octets, hex')
    p.add_argument('--sig-params-null', action='store_true')
    p.add_argument('--tbs-sig-alg', help='another OID in the TBSCertificate')
    p.add_argument('--not-before', default='0')
    p.add_argument('--not-after', default='gen:99991231235959Z')
    p.add_argument('--subject', default='O=Example,OU=Devices')
    p.add_argument('--serial-number', action='append', default=None)
    p.add_argument('--no-serial-number', action='store_true')
    p.add_argument('--serial-number-utf8', action='store_true')
    p.add_argument('--hw-type', default='1.3.6.1.4.1.99999.1.1')
    p.add_argument('--ppid', default='01001a7dda7113')
    p.add_argument('--hwmodule-hex', help='the otherName value, raw DER hex')
    p.add_argument('--two-hwmodules', action='store_true')
    p.add_argument('--no-san', action='store_true')
    p.add_argument('--san-critical', action='store_true')
    p.add_argument('--san-dns', help='a DNS name instead of the hwmodule')
    p.add_argument('--ku', default='digitalSignature')
    p.add_argument('--no-ku', action='store_true')
    p.add_argument('--ku-noncritical', action='store_true')
    p.add_argument('--eku', help='clientAuth, serverAuth, OCSPSigning (comma)')
    p.add_argument('--no-aki', action='store_true')
    p.add_argument('--aki-critical', action='store_true')
    p.add_argument('--ski', action='store_true')
    p.add_argument('--ski-critical', action='store_true')
    p.add_argument('--bc', help='ca, ca:N (pathlen) or noca')
    p.add_argument('--bc-noncritical', action='store_true')
    p.add_argument('--masa', help='id-pe-masa-url as an IA5String')
    p.add_argument('--masa-utf8', help='id-pe-masa-url as a UTF8String')
    p.add_argument('--dup-ku', action='store_true')
    p.add_argument('--unique-id', action='store_true')
    p.add_argument('--der', action='store_true', help='write DER')
    a = p.parse_args()

    pub = run(['openssl', 'pkey', '-in', a.key, '-pubout', '-outform', 'DER'])
    if a.self_signed:
        sign_key = a.key
    else:
        sign_key = a.issuer_key
        issuer = subject_of(cert_der(a.issuer_cert))
    ktype = key_type(sign_key)
    alg_oid, rsa_null, md = SIG_ALG[ktype]
    alg = oid(alg_oid)
    if rsa_null or a.sig_params_null:
        alg += tlv(0x05, b'')
    sig_alg = seq(alg)
    tbs_alg = seq(oid(a.tbs_sig_alg)) if a.tbs_sig_alg else sig_alg

    serials = a.serial_number if a.serial_number is not None else ['SN-1']
    if a.no_serial_number:
        serials = []
    subject = name(a.subject, serials, 0x0c if a.serial_number_utf8 else 0x13)
    if a.self_signed:
        issuer = subject

    serial = bytes.fromhex(a.serial) if a.serial else \
        bytes([0x40 | (os.urandom(1)[0] & 0x3f)]) + os.urandom(15)

    exts = []
    if not a.no_san:
        if a.san_dns:
            names = tlv(0x82, a.san_dns.encode())
        elif a.hwmodule_hex:
            names = other_name(bytes.fromhex(a.hwmodule_hex))
        else:
            names = other_name(hwmodule(a.hw_type, a.ppid))
            if a.two_hwmodules:
                names += other_name(hwmodule(a.hw_type, a.ppid))
        exts.append(ext('2.5.29.17', tlv(0x30, names), a.san_critical))
    if not a.no_ku:
        exts.append(ext('2.5.29.15', key_usage(a.ku), not a.ku_noncritical))
        if a.dup_ku:
            exts.append(ext('2.5.29.15', key_usage(a.ku), True))
    if a.eku:
        ekus = {'clientAuth': '1.3.6.1.5.5.7.3.2',
                'serverAuth': '1.3.6.1.5.5.7.3.1',
                'OCSPSigning': '1.3.6.1.5.5.7.3.9'}
        exts.append(ext('2.5.29.37', seq(*[oid(ekus[e])
                                           for e in a.eku.split(',')])))
    if a.bc:
        if a.bc == 'noca':
            bc = seq()
        elif a.bc.startswith('ca'):
            bc = tlv(0x01, b'\xff')
            if ':' in a.bc:
                bc += tlv(0x02, bytes([int(a.bc.split(':')[1])]))
            bc = seq(bc)
        exts.append(ext('2.5.29.19', bc, not a.bc_noncritical))
    # RFC 5280 4.2.1.2 (1): SHA-1 of the subjectPublicKey bits.
    _, s0, _, _ = read_tlv(pub, 0)
    _, bs, be, _ = read_tlv(pub, read_tlv(pub, s0)[3])
    own_ski = hashlib.sha1(pub[bs + 1:be]).digest()
    if not a.no_aki:
        keyid = own_ski if a.self_signed else ski_of(a.issuer_cert)
        exts.append(ext('2.5.29.35', seq(tlv(0x80, keyid)), a.aki_critical))
    if a.ski or a.ski_critical:
        exts.append(ext('2.5.29.14', tlv(0x04, own_ski), a.ski_critical))
    if a.masa:
        exts.append(ext('1.3.6.1.5.5.7.1.32', tlv(0x16, a.masa.encode())))
    if a.masa_utf8:
        exts.append(ext('1.3.6.1.5.5.7.1.32', tlv(0x0c, a.masa_utf8.encode())))

    tbs = b''
    if a.version != 1:
        tbs += tlv(0xa0, tlv(0x02, bytes([a.version - 1])))
    tbs += tlv(0x02, serial) + tbs_alg + issuer
    tbs += seq(time_tlv(a.not_before), time_tlv(a.not_after))
    tbs += subject + pub
    if a.unique_id:
        tbs += tlv(0x81, b'\x00\x01\x02')
    if exts:
        tbs += tlv(0xa3, seq(*exts))
    tbs = seq(tbs)

    if md:
        sig = run(['openssl', 'dgst', '-' + md, '-sign', sign_key, '-binary'],
                  tbs)
    else:
        # pkeyutl -rawin needs the input's size: a file, not a pipe.
        with tempfile.NamedTemporaryFile() as f:
            f.write(tbs)
            f.flush()
            sig = run(['openssl', 'pkeyutl', '-sign', '-inkey', sign_key,
                       '-rawin', '-in', f.name])
    cert = seq(tbs, sig_alg, tlv(0x03, b'\x00' + sig))
    if a.der:
        sys.stdout.buffer.write(cert)
    else:
        b = base64.b64encode(cert).decode()
        sys.stdout.write('-----BEGIN CERTIFICATE-----\n' +
                         ''.join(b[i:i + 64] + '\n'
                                 for i in range(0, len(b), 64)) +
                         '-----END CERTIFICATE-----\n')


if __name__ == '__main__':
    main()
