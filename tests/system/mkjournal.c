/*
 * mkjournal.c -- write a herd log file of N records, built from the
 * format README.md's Persistence section describes (not from journal.c),
 * so that a system test can give a node a million records in a second.
 *
 * usage: mkjournal FILE N SERVER
 * Record i is "AT SERVER +0.000000001 c<i> +34.068930-118.445127 <i+1>.5".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t	table[256];

/* CRC32C (Castagnoli, reflected 0x82F63B78) of len bytes, continuing crc. */
static uint32_t
crc32c(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	while (len-- > 0)
		crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
	return ~crc;
}

/* Store v little-endian in n bytes at b. */
static void
put_le(unsigned char *b, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

int
main(int argc, char **argv)
{
	unsigned char hdr[32], head[8];
	char line[256];
	unsigned long i, n;
	uint32_t c, crc;
	int k, len;
	FILE *f;

	if (argc != 4 || (f = fopen(argv[1], "wb")) == NULL) {
		fprintf(stderr, "usage: mkjournal FILE N SERVER\n");
		return 2;
	}
	n = strtoul(argv[2], NULL, 10);
	for (c = 0; c < 256; c++) {
		uint32_t v = c;

		for (k = 0; k < 8; k++)
			v = (v & 1) ? (v >> 1) ^ 0x82F63B78u : v >> 1;
		table[c] = v;
	}
	/* Header: magic, version 1, kind 1 (log), generation 1, CRC, 0. */
	memcpy(hdr, "HERDJRNL", 8);
	put_le(hdr + 8, 1, 4);
	put_le(hdr + 12, 1, 4);
	put_le(hdr + 16, 1, 8);
	put_le(hdr + 24, crc32c(0, hdr, 24), 4);
	put_le(hdr + 28, 0, 4);
	fwrite(hdr, 1, sizeof(hdr), f);
	for (i = 0; i < n; i++) {
		len = snprintf(line, sizeof(line), "AT %s +0.000000001 c%lu"
		    " +34.068930-118.445127 %lu.5", argv[3], i, i + 1);
		/* Entry: u32 length, u32 CRC32C of length bytes + payload. */
		put_le(head, (uint64_t)len, 4);
		crc = crc32c(0, head, 4);
		put_le(head + 4, crc32c(crc, (unsigned char *)line,
		    (size_t)len), 4);
		fwrite(head, 1, sizeof(head), f);
		fwrite(line, 1, (size_t)len, f);
	}
	return fclose(f) == 0 ? 0 : 1;
}
