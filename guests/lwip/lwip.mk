# lwip.mk: adds lwIP (Debian's source package, fetched by fetch.sh) and our port layer to an app; include before runtime.mk.

LWIP_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
LWIP_SRC := $(LWIP_DIR)/src/src
LWIP_STAMP := $(LWIP_DIR)/src/.fetched

LWIP_CORE = init.c def.c inet_chksum.c ip.c mem.c memp.c netif.c pbuf.c tcp.c tcp_in.c tcp_out.c timeouts.c
LWIP_IPV4 = etharp.c icmp.c ip4.c ip4_addr.c
LWIP_SRCS = $(addprefix $(LWIP_SRC)/core/,$(LWIP_CORE)) $(addprefix $(LWIP_SRC)/core/ipv4/,$(LWIP_IPV4)) \
	    $(LWIP_SRC)/netif/ethernet.c
LWIP_PORT_SRCS = $(LWIP_DIR)/port/sys_arch.c $(LWIP_DIR)/port/netif_netfront.c

APP_SRCS += $(LWIP_SRCS) $(LWIP_PORT_SRCS)
APP_CPPFLAGS += -I$(LWIP_DIR)/port/include -I$(LWIP_SRC)/include

$(LWIP_SRCS): | $(LWIP_STAMP)
# lwIP's headers are needed before any of our files that include them compiles: the app's and the port's.
$(addprefix build/,$(notdir $(patsubst %.c,%.o,$(filter-out $(LWIP_SRCS),$(APP_SRCS))))): | $(LWIP_STAMP)

$(LWIP_STAMP):
	sh $(LWIP_DIR)/fetch.sh
