// SPDX-License-Identifier: MIT
/*
 * vgpuctl: ask a running vgpu-mediator how it is doing: `status` (text, or
 * JSON with --json: Documentation/status-json.rst) and `trace` (the last
 * jobs as a Chrome/Perfetto trace).
 *
 * It needs only the control socket's path: -s SOCKET, or control_socket
 * in the [mediator] section of the config, found by a reader of its own
 * that ignores everything else, so that vgpuctl still works while the rest
 * of the config has errors (which is when one wants to ask the mediator).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_CONF	"/etc/vgpu/mediator.conf"
#define DEFAULT_SOCKET	"/run/vgpu/mediator.sock"	/* config.c's default */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpuctl [-c FILE | -s SOCKET] status [--json]\n"
		"       vgpuctl [-c FILE | -s SOCKET] trace [-o FILE]\n"
		"status: per pool the running job, the queue depth per priority and the\n"
		"policy, and per VM its counters, GPU time (run_ns) and wait (wait_ns)\n"
		"(--json: as JSON, Documentation/status-json.rst).\n"
		"trace: the last jobs run (trace_jobs), as a Chrome/Perfetto trace: open\n"
		"it at https://ui.perfetto.dev or chrome://tracing.\n\n"
		"  -c FILE    read control_socket from this mediator config\n"
		"             (default " DEFAULT_CONF ")\n"
		"  -s SOCKET  the mediator's control socket\n"
		"  --json     status as JSON\n"
		"  -o FILE    write the trace to FILE (default: standard output)\n"
		"  -h, --help this help\n"
		"  --version  print the version\n"
		"See vgpuctl(1).\n");
}

enum { OPT_VERSION = 256 };

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * control_socket of @path's [mediator] section into @buf (the last one
 * wins, as in the mediator), or the default. Comments and inline comments
 * as libinih takes them: lines starting with ';' or '#', and ' ;' on.
 * 0, or -errno if @path cannot be read.
 */
static int read_socket_path(const char *path, char *buf, size_t len)
{
	char line[4096];
	bool in_mediator = false;
	FILE *f = fopen(path, "re");

	snprintf(buf, len, "%s", DEFAULT_SOCKET);
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq, *c;

		if (*s == ';' || *s == '#' || !*s)
			continue;
		if (*s == '[') {
			c = strchr(s, ']');
			in_mediator = c && c - s == 9 && !strncmp(s, "[mediator", 9);
			continue;
		}
		eq = strchr(s, '=');
		if (!in_mediator || !eq)
			continue;
		*eq = '\0';
		for (c = eq + 1; (c = strchr(c, ';')); c++) {
			if (isspace((unsigned char)c[-1])) {
				*c = '\0';
				break;
			}
		}
		if (!strcmp(trim(s), "control_socket"))
			snprintf(buf, len, "%s", trim(eq + 1));
	}
	fclose(f);
	return 0;
}

enum { OPT_JSON = 257 };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

/* Why connect() said EACCES: who may use the socket, and how to join them. */
static void explain_eacces(const char *path)
{
	struct stat st;
	struct group *g;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "vgpuctl: permission denied on %s (or on a directory above it)\n",
			path);
		return;
	}
	g = getgrgid(st.st_gid);
	if (st.st_mode & S_IWGRP && g && st.st_gid != 0)
		fprintf(stderr, "vgpuctl: permission denied on %s: it is for root and group %s "
			"(mode %03o).\nAsk to be added to it (adduser $USER %s, then log in again)"
			" or use sudo.\n", path, g->gr_name, st.st_mode & 0777, g->gr_name);
	else
		fprintf(stderr, "vgpuctl: permission denied on %s: it is for root only (mode %03o)."
			"\nUse sudo, or set control_socket_group in the mediator's config.\n",
			path, st.st_mode & 0777);
}

int main(int argc, char **argv)
{
	const char *conf_path = DEFAULT_CONF, *sock = NULL, *out_path = NULL, *cmd;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool json = false;
	FILE *out = stdout;
	char buf[4096];
	ssize_t n;
	int c, fd, err;

	while ((c = getopt_long(argc, argv, "c:s:o:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf_path = optarg; break;
		case 's': sock = optarg; break;
		case 'o': out_path = optarg; break;
		case OPT_JSON: json = true; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("vgpuctl %s\n", VGPU_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || (strcmp(argv[optind], "status") && strcmp(argv[optind], "trace")) ||
	    (json && strcmp(argv[optind], "status")) || (out_path && strcmp(argv[optind], "trace"))) {
		usage(stderr);
		return 2;
	}
	cmd = !strcmp(argv[optind], "trace") ? "trace\n" : json ? "status json\n" : "status\n";
	if (!sock) {
		err = read_socket_path(conf_path, sa.sun_path, sizeof(sa.sun_path));
		if (err) {
			fprintf(stderr, "vgpuctl: %s: %s\n", conf_path, strerror(-err));
			return 1;
		}
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EACCES || errno == EPERM)
			explain_eacces(sa.sun_path);
		else
			fprintf(stderr, "vgpuctl: cannot reach the mediator at %s: %s\n"
				"Is vgpu-mediator running (systemctl status vgpu-mediator)?\n",
				sa.sun_path, strerror(errno));
		return 1;
	}
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
		fprintf(stderr, "vgpuctl: %s: %s\n", sa.sun_path, strerror(errno));
		return 1;
	}
	if (out_path && !(out = fopen(out_path, "we"))) {
		fprintf(stderr, "vgpuctl: %s: %s\n", out_path, strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, out);
	close(fd);
	if (n < 0)
		fprintf(stderr, "vgpuctl: %s: %s\n", sa.sun_path, strerror(errno));
	if (out_path && fclose(out)) {
		fprintf(stderr, "vgpuctl: %s: %s\n", out_path, strerror(errno));
		return 1;
	}
	if (out_path)
		fprintf(stderr, "vgpuctl: trace written to %s (open it at https://ui.perfetto.dev)\n",
			out_path);
	return n < 0;
}
