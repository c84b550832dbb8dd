/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CA_SERVE_H
#define M2M_CA_SERVE_H

/* m2m-ca serve: CMP over HTTP (cmd/ca_serve.c). */

#include <m2m/ctx.h>

#include "cli.h"

extern const struct cli_command serve_cmd;
int cmd_serve(struct m2m_ctx *ctx, int argc, char **argv);

#endif
