#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""mkcrl.py: hand-made CRLs for the m2m-verify tests.

Writes one PEM CRL (v2, with cRLNumber and authorityKeyIdentifier) on
stdout, issued in the name of --issuer-cert and signed with --key (the
issuer's key, or another to forge one):

  mkcrl.py --issuer-cert CA.crt --key CA.key [--number N] [--delta BASE]
           [--this-update DAYS] [--next-update DAYS]
           [--revoke SERIAL[:REASON[:DAYS]]]... [--idp] [--der]

SERIAL is hex (the INTEGER content octets), REASON an RFC 5280 code (none:
no reasonCode), DAYS relative to now (revocation time; default -1).
"""
import argparse
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkcert import (SIG_ALG, cert_der, ext, key_type, oid, run, seq,  # noqa: E402
                    ski_of, subject_of, time_tlv, tlv)


def int_der(n):
    """A non-negative INTEGER's content octets, minimal."""
    b = n.to_bytes(max(1, (n.bit_length() + 8) // 8), 'big')
    return b


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--issuer-cert', required=True)
    p.add_argument('--key', required=True)
    p.add_argument('--number', type=int, default=1)
    p.add_argument('--delta', type=int, help='BaseCRLNumber of a delta CRL')
    p.add_argument('--this-update', default='-1')
    p.add_argument('--next-update', default='7')
    p.add_argument('--revoke', action='append', default=[])
    p.add_argument('--idp', action='store_true',
                   help='add an issuingDistributionPoint')
    p.add_argument('--der', action='store_true')
    a = p.parse_args()

    alg_oid, rsa_null, md = SIG_ALG[key_type(a.key)]
    alg = oid(alg_oid) + (tlv(0x05, b'') if rsa_null else b'')
    sig_alg = seq(alg)
    issuer = subject_of(cert_der(a.issuer_cert))

    entries = []
    for r in a.revoke:
        parts = r.split(':')
        serial = bytes.fromhex(parts[0])
        exts = b''
        if len(parts) > 1 and parts[1] not in ('', 'none'):
            exts = seq(ext('2.5.29.21', tlv(0x0a, bytes([int(parts[1])]))))
        when = parts[2] if len(parts) > 2 else '-1'
        entries.append(seq(tlv(0x02, serial), time_tlv(when), exts))

    crl_exts = [ext('2.5.29.35', seq(tlv(0x80, ski_of(a.issuer_cert)))),
                ext('2.5.29.20', tlv(0x02, int_der(a.number)))]
    if a.delta is not None:
        crl_exts.append(ext('2.5.29.27', tlv(0x02, int_der(a.delta)),
                            True))
    if a.idp:
        # IssuingDistributionPoint { onlyContainsUserCerts [1] TRUE }
        crl_exts.append(ext('2.5.29.28', seq(tlv(0x81, b'\xff')), True))

    tbs = tlv(0x02, b'\x01') + sig_alg + issuer + time_tlv(a.this_update)
    tbs += time_tlv(a.next_update)
    if entries:
        tbs += seq(*entries)
    tbs += tlv(0xa0, seq(*crl_exts))
    tbs = seq(tbs)
    sig = run(['openssl', 'dgst', '-' + md, '-sign', a.key, '-binary'], tbs)
    crl = seq(tbs, sig_alg, tlv(0x03, b'\x00' + sig))
    if a.der:
        sys.stdout.buffer.write(crl)
    else:
        b = base64.b64encode(crl).decode()
        sys.stdout.write('-----BEGIN X509 CRL-----\n' +
                         ''.join(b[i:i + 64] + '\n'
                                 for i in range(0, len(b), 64)) +
                         '-----END X509 CRL-----\n')


if __name__ == '__main__':
    main()
