/* noxsd-check: runs noxsd's pure checks on input from stdin, for the unit tests (test/unit/noxsd/check.test.ts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/*
 * Usage:
 *   noxsd-check req     reads 64-byte requests until EOF; prints "<err> <msg>" per request
 *   noxsd-check lines   reads lines "ring PROD CONS SIZE", "tx OFFSET SIZE FLAGS ID RINGSIZE",
 *                       "rxid ID RINGSIZE", "ifname NAME", "default DOMID ID"; prints one result line each
 */
static int reqs(void)
{
    struct noxsd_req r;
    size_t got;
    while ((got = fread(&r, 1, sizeof r, stdin)) == sizeof r) {
        char msg[80] = "";
        int rc = noxsd_check_req(&r, msg, sizeof msg);
        printf("%d %s\n", rc, msg);
    }
    if (got != 0) { fprintf(stderr, "noxsd-check: %zu trailing bytes (requests are %zu bytes)\n", got, sizeof r); return 1; }
    return 0;
}

static int lines(void)
{
    char line[256], word[32], s[64];
    while (fgets(line, sizeof line, stdin)) {
        unsigned long a, b, c, d, e;
        if (sscanf(line, "%31s", word) != 1) continue;
        if (!strcmp(word, "ring") && sscanf(line, "%*s %lu %lu %lu", &a, &b, &c) == 3) {
            printf("%ld\n", noxsd_ring_pending((uint32_t)a, (uint32_t)b, (uint32_t)c));
        } else if (!strcmp(word, "tx") && sscanf(line, "%*s %lu %lu %lu %lu %lu", &a, &b, &c, &d, &e) == 5) {
            char msg[128] = "";
            int v = noxsd_check_tx((uint16_t)a, (uint16_t)b, (uint16_t)c, (uint16_t)d, (uint32_t)e, msg, sizeof msg);
            printf("%s %s\n", v == NOXSD_TX_OK ? "ok" : v == NOXSD_TX_DROP ? "drop" : "fatal", msg);
        } else if (!strcmp(word, "rxid") && sscanf(line, "%*s %lu %lu", &a, &b) == 2) {
            printf("%d\n", noxsd_check_rx_id((uint16_t)a, (uint32_t)b));
        } else if (!strcmp(word, "ifname") && sscanf(line, "%*s %63s", s) == 1) {
            printf("%d\n", noxsd_ifname_ok(s, sizeof s));
        } else if (!strcmp(word, "default") && sscanf(line, "%*s %lu %lu", &a, &b) == 2) {
            char n[NOXSD_IFNAMSIZ];
            noxsd_default_ifname((uint16_t)a, (uint16_t)b, n);
            printf("%s\n", n);
        } else {
            fprintf(stderr, "noxsd-check: cannot read line: %s", line);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "req")) return reqs();
    if (argc == 2 && !strcmp(argv[1], "lines")) return lines();
    fprintf(stderr, "usage: noxsd-check req|lines < input\n");
    return 2;
}
