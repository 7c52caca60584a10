# Convenience targets; the work is done by cargo and the scripts in scripts/.
#
#   make release            build every binary into target/release
#   make dist               the static release tarball with its checksums in
#                           target/dist (scripts/dist.sh)
#   make install            copy bridge host-local portmap loopback ptp firewall
#                           tuning bandwidth flannel cnitool from target/release into
#                           $(DESTDIR)$(BINDIR) (default /opt/cni/bin)
#   make install-conf       copy examples/conf/10-cni-rs.conflist into
#                           $(DESTDIR)$(CONFDIR) (default /etc/cni/net.d); FORCE=1 replaces
#   make demo               build release binaries and run examples/single-node/run.sh (root)
#   make test               the whole test suite (scripts/test-all.sh, root)
#   make test-examples      every example (root); CNI_PLUGIN_DIR=... picks the plugins
#
# Stage an install elsewhere with e.g. `make install DESTDIR=/tmp/stage`.

PREFIX ?= /opt/cni
BINDIR ?= $(PREFIX)/bin
CONFDIR ?= /etc/cni/net.d
DESTDIR ?=
CARGO ?= cargo

export PREFIX BINDIR CONFDIR DESTDIR

.PHONY: all release dist install install-conf demo test test-examples

all: release

release:
	$(CARGO) build --release --workspace --bins

dist:
	scripts/dist.sh

install:
	scripts/install.sh bin

install-conf:
	scripts/install.sh conf

demo: release
	CNI_PLUGIN_DIR=$(CURDIR)/target/release CNITOOL=$(CURDIR)/target/release/cnitool \
		examples/single-node/run.sh

test:
	scripts/test-all.sh

test-examples:
	scripts/test-examples.sh
