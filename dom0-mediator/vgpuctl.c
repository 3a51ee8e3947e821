// SPDX-License-Identifier: MIT
/*
 * vgpuctl: ask a running vgpu-mediator how it is doing.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mediator.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpuctl [-c FILE | -s SOCKET] status\n"
		"Shows, per pool, the running job and the queue depth per priority, and\n"
		"per VM its counters.\n\n"
		"  -c FILE    read control_socket from this mediator config\n"
		"             (default /etc/vgpu/mediator.conf)\n"
		"  -s SOCKET  the mediator's control socket\n"
		"  -h, --help this help\n"
		"  --version  print the version\n"
		"See vgpuctl(1).\n");
}

enum { OPT_VERSION = 256 };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	const char *conf_path = "/etc/vgpu/mediator.conf", *sock = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct conf conf;
	char buf[4096], err[1024];
	ssize_t n;
	int c, fd;

	while ((c = getopt_long(argc, argv, "c:s:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf_path = optarg; break;
		case 's': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("vgpuctl %s\n", VGPU_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || strcmp(argv[optind], "status")) {
		usage(stderr);
		return 2;
	}
	if (!sock) {
		if (conf_load(conf_path, &conf, err, sizeof(err))) {
			fprintf(stderr, "vgpuctl: %s\n", err);
			return 1;
		}
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", conf.ctl_path);
		conf_free(&conf);
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "vgpuctl: cannot reach the mediator at %s: %s\n"
			"Is vgpu-mediator running (systemctl status vgpu-mediator)?\n",
			sa.sun_path, strerror(errno));
		return 1;
	}
	if (write(fd, "status\n", 7) != 7) {
		fprintf(stderr, "vgpuctl: %s: %s\n", sa.sun_path, strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return n < 0;
}
