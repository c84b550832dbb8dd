/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load generator for bench/serve: builds N protected P-256 ir requests
 * with OpenSSL's CMP client (signed by a station, implicit confirmation,
 * each for a fresh key and a PPID of its own), then posts them to
 * m2m-ca serve over C keep-alive HTTP/1.1 connections, one thread each,
 * and prints one line (ok: a 200 whose body is an ip with the certificate
 * accepted, read from its DER):
 *   ok=N failed=N seconds=S certs_per_s=R p50_ms=A p99_ms=B
 * With --csr-dir DIR it also writes each request's key as a PKCS#10
 * request DIR/NNNNNN.csr and a manifest DIR/manifest.csv (serial,ppid,csr)
 * of the same devices, for 'm2m-ca issue --batch'.
 *
 *   cmp_load HOST PORT CA_CERT STATION_CERT STATION_KEY HW_OID N C
 *            PPID_BASE [--csr-dir DIR]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct msg {
	unsigned char *der;
	int len;
	double ms;
	int ok;
};

static struct msg *msgs;
static int nmsgs, nconn, port;
static const char *host;
static unsigned char *captured;
static int captured_len;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "cmp_load: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* The transfer callback: keep the request, send nothing. */
static OSSL_CMP_MSG *capture(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	(void)ctx;
	captured = NULL;
	captured_len = i2d_OSSL_CMP_MSG(req, &captured);
	return NULL;
}

/* subjectAltName with the HardwareModuleName { hw, ppid }. */
static X509_EXTENSIONS *hw_exts(ASN1_OBJECT *hw, const unsigned char *ppid,
				int n)
{
	unsigned char buf[256], *p;
	int l1 = i2d_ASN1_OBJECT(hw, NULL), len;
	ASN1_TYPE *val = ASN1_TYPE_new();
	ASN1_STRING *seq = ASN1_STRING_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	X509_EXTENSIONS *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext;

	/* SEQUENCE { OID, OCTET STRING } */
	len = l1 + 2 + n;
	buf[0] = 0x30;
	buf[1] = (unsigned char)len;
	p = buf + 2;
	i2d_ASN1_OBJECT(hw, &p);
	*p++ = 0x04;
	*p++ = (unsigned char)n;
	memcpy(p, ppid, (size_t)n);
	if (!ASN1_STRING_set(seq, buf, len + 2))
		die("asn1");
	ASN1_TYPE_set(val, V_ASN1_SEQUENCE, seq);
	if (!GENERAL_NAME_set0_othername(gn, OBJ_txt2obj("1.3.6.1.5.5.7.8.4", 1),
					 val))
		die("othername");
	sk_GENERAL_NAME_push(gens, gn);
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	sk_X509_EXTENSION_push(exts, ext);
	GENERAL_NAMES_free(gens);
	return exts;
}

static void build(const char *ca_cert, const char *st_cert, const char *st_key,
		  const char *hw_oid, unsigned long base, const char *csr_dir)
{
	X509 *ca, *st;
	EVP_PKEY *sk;
	ASN1_OBJECT *hw = OBJ_txt2obj(hw_oid, 1);
	FILE *f;
	FILE *man = NULL;
	char path[4096], hex[32];
	int i;

	f = fopen(ca_cert, "r");
	ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(st_cert, "r");
	st = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(st_key, "r");
	sk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!ca || !st || !sk || !hw)
		die("cannot read the certificates, key or OID");
	if (csr_dir) {
		snprintf(path, sizeof(path), "%s/manifest.csv", csr_dir);
		man = fopen(path, "w");
		if (!man)
			die("cannot write the manifest");
		fprintf(man, "serial,ppid,csr\n");
	}
	for (i = 0; i < nmsgs; i++) {
		OSSL_CMP_CTX *c = OSSL_CMP_CTX_new(NULL, NULL);
		EVP_PKEY *k = EVP_EC_gen("P-256");
		X509_NAME *subj = X509_NAME_new();
		unsigned char ppid[7] = { 0x01, 0x00, 0, 0, 0, 0, 0 };
		unsigned long v = base + (unsigned long)i;
		char serial[32];

		/* bluetooth PPID: mask 0x01, then a 6-byte address */
		ppid[2] = 0x02;
		ppid[3] = (unsigned char)(v >> 24);
		ppid[4] = (unsigned char)(v >> 16);
		ppid[5] = (unsigned char)(v >> 8);
		ppid[6] = (unsigned char)v;
		ppid[1] = 0x00;
		snprintf(serial, sizeof(serial), "B-%lu", v);
		X509_NAME_add_entry_by_txt(subj, "serialNumber", MBSTRING_ASC,
					   (unsigned char *)serial, -1, -1, 0);
		if (!c || !k ||
		    !OSSL_CMP_CTX_set1_srvCert(c, ca) ||
		    !OSSL_CMP_CTX_set1_cert(c, st) ||
		    !OSSL_CMP_CTX_set1_pkey(c, sk) ||
		    !OSSL_CMP_CTX_set0_newPkey(c, 1, k) ||
		    !OSSL_CMP_CTX_set1_subjectName(c, subj) ||
		    !OSSL_CMP_CTX_set0_reqExtensions(c, hw_exts(hw, ppid, 7)) ||
		    !OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_IMPLICIT_CONFIRM, 1) ||
		    !OSSL_CMP_CTX_set_transfer_cb(c, capture))
			die("cannot set up a request");
		if (csr_dir) {
			X509_REQ *r = X509_REQ_new();

			snprintf(path, sizeof(path), "%s/%06d.csr", csr_dir, i);
			f = fopen(path, "w");
			if (!r || !f || !X509_REQ_set_pubkey(r, k) ||
			    !X509_REQ_sign(r, k, EVP_sha256()) ||
			    !PEM_write_X509_REQ(f, r))
				die("cannot write a CSR");
			fclose(f);
			X509_REQ_free(r);
			for (int j = 0; j < 7; j++)
				snprintf(hex + 2 * j, 3, "%02x", ppid[j]);
			fprintf(man, "%s,%s,%s\n", serial, hex, path);
		}
		captured = NULL;
		(void)OSSL_CMP_exec_IR_ses(c);
		ERR_clear_error();
		if (!captured)
			die("no request was made");
		msgs[i].der = captured;
		msgs[i].len = captured_len;
		X509_NAME_free(subj);
		OSSL_CMP_CTX_free(c);
	}
	if (man)
		fclose(man);
	X509_free(ca);
	X509_free(st);
	EVP_PKEY_free(sk);
	ASN1_OBJECT_free(hw);
}

static int connect_to(void)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("cannot connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* DER element at p[*off] (< end): tag, content; -1 if malformed. */
static int tlv(const unsigned char *p, size_t end, size_t *off, int *tag,
	       size_t *cstart, size_t *clen)
{
	size_t i = *off, n;
	int k;

	if (i + 2 > end)
		return -1;
	*tag = p[i++];
	n = p[i++];
	if (n & 0x80) {
		k = n & 0x7f;
		if (k < 1 || k > 3 || i + (size_t)k > end)
			return -1;
		for (n = 0; k > 0; k--)
			n = n << 8 | p[i++];
	}
	if (n > end - i)
		return -1;
	*cstart = i;
	*clen = n;
	*off = i + n;
	return 0;
}

/*
 * Is body[0..len) an ip whose first CertResponse is accepted (status 0 or
 * 1)?  PKIMessage { header, body [1] CertRepMessage { caPubs [1]
 * OPTIONAL, response SEQUENCE OF CertResponse { certReqId, status
 * PKIStatusInfo { status INTEGER ... } ... } } }
 */
static int issued(const unsigned char *p, size_t len)
{
	size_t off = 0, c, n;
	int tag;

	/* each step: into the element found (off = its content) */
#define INTO(want) (tlv(p, len, &off, &tag, &c, &n) == 0 && \
		    (want < 0 || tag == want) && ((off = c), (len = c + n), 1))
#define OVER() (tlv(p, len, &off, &tag, &c, &n) == 0)
	if (!INTO(0x30) || !OVER() /* header */ || !INTO(0xa1) /* ip */ ||
	    !INTO(0x30) /* CertRepMessage */)
		return 0;
	if (off < len && p[off] == 0xa1 && !OVER())	/* caPubs */
		return 0;
	if (!INTO(0x30) /* response */ || !INTO(0x30) /* CertResponse */ ||
	    !OVER() /* certReqId */ || !INTO(0x30) /* PKIStatusInfo */ ||
	    !INTO(0x02) || n != 1)
		return 0;
#undef INTO
#undef OVER
	return p[c] <= 1;
}

/*
 * One request and its response on fd; 1 if it was a 200 whose body is an
 * ip with the certificate accepted.
 */
static int post(int fd, const struct msg *m)
{
	char head[512], buf[65536];
	size_t got = 0, need = 0, hl = 0;
	ssize_t n;
	char *end, *cl;
	int h = snprintf(head, sizeof(head),
			 "POST /.well-known/cmp HTTP/1.1\r\nHost: %s\r\n"
			 "Content-Type: application/pkixcmp\r\n"
			 "Content-Length: %d\r\n\r\n", host, m->len);

	struct iovec iov[2] = { { head, (size_t)h },
				{ m->der, (size_t)m->len } };

	/* one write, as HTTP clients send a small request: one segment */
	if (writev(fd, iov, 2) != (ssize_t)h + m->len)
		return 0;
	for (;;) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
		buf[got] = '\0';
		if (!hl && (end = strstr(buf, "\r\n\r\n"))) {
			hl = (size_t)(end - buf) + 4;
			cl = strcasestr(buf, "Content-Length:");
			if (!cl)
				return 0;
			need = hl + strtoul(cl + 15, NULL, 10);
		}
		if (hl && got >= need)
			return strncmp(buf, "HTTP/1.1 200", 12) == 0 &&
			       issued((unsigned char *)buf + hl, need - hl);
	}
}

static int next_msg;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *client(void *arg)
{
	int fd = connect_to(), i;
	double t;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		i = next_msg++;
		pthread_mutex_unlock(&lock);
		if (i >= nmsgs)
			break;
		t = now_ms();
		msgs[i].ok = post(fd, &msgs[i]);
		msgs[i].ms = now_ms() - t;
		if (!msgs[i].ok) {
			close(fd);
			fd = connect_to();
		}
	}
	close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	pthread_t th[256];
	double t0, secs, *lat;
	int i, ok = 0;

	if (argc != 10 && !(argc == 12 && strcmp(argv[10], "--csr-dir") == 0)) {
		fprintf(stderr, "usage: cmp_load HOST PORT CA_CERT STATION_CERT STATION_KEY HW_OID N C PPID_BASE [--csr-dir DIR]\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	nmsgs = atoi(argv[7]);
	nconn = atoi(argv[8]);
	if (nmsgs < 1 || nconn < 1 || nconn > 256)
		die("N and C must be positive, C at most 256");
	msgs = calloc((size_t)nmsgs, sizeof(*msgs));
	lat = calloc((size_t)nmsgs, sizeof(*lat));
	if (!msgs || !lat)
		die("out of memory");
	build(argv[3], argv[4], argv[5], argv[6], strtoul(argv[9], NULL, 10),
	      argc == 12 ? argv[11] : NULL);
	t0 = now_ms();
	for (i = 0; i < nconn; i++)
		pthread_create(&th[i], NULL, client, NULL);
	for (i = 0; i < nconn; i++)
		pthread_join(th[i], NULL);
	secs = (now_ms() - t0) / 1e3;
	for (i = 0; i < nmsgs; i++) {
		lat[i] = msgs[i].ms;
		ok += msgs[i].ok;
	}
	qsort(lat, (size_t)nmsgs, sizeof(*lat), cmp_double);
	printf("ok=%d failed=%d seconds=%.3f certs_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n",
	       ok, nmsgs - ok, secs, ok / secs, lat[nmsgs / 2],
	       lat[(int)(nmsgs * 0.99) < nmsgs ? (int)(nmsgs * 0.99) : nmsgs - 1]);
	for (i = 0; i < nmsgs; i++)
		OPENSSL_free(msgs[i].der);
	free(msgs);
	free(lat);
	return ok == nmsgs ? 0 : 1;
}
