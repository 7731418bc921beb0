# runtime.mk: builds one app into a PV kernel with the runtime. An app's Makefile sets APP (its name),
# APP_SRCS (its C files, paths relative to its directory), optionally APP_CPPFLAGS and STACK_SIZE,
# then includes this file.

RT_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

CC = gcc
LD = ld
BUILD = build

# Pin the interface so the hypercall numbers and struct layouts cannot drift with the headers.
XEN_INTERFACE_VERSION = 0x00040d00
STACK_SIZE ?= 16384
# Where the image runs. libxc maps a PV guest from VIRT_BASE up to the next 4 MiB boundary that
# leaves 512 KiB to spare, and refuses a guest with less memory than that mapping: at 0 that is
# 4 MiB for any guest. At 3 MiB the mapping is 1 MiB for an image and boot data under ~500 KiB,
# so a guest can run in less than 4 MiB; the runtime uses that mapping as its memory.
VIRT_BASE = 0x300000

RT_SRCS = $(addprefix $(RT_DIR)/,boot.c console.c events.c time.c mm.c gnttab.c xenstore.c \
	power.c netfront.c netfront_xs.c noxs.c noxs_page.c netfront_noxs.c libc/string.c libc/printf.c)

CFLAGS = -std=gnu11 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	 -mno-red-zone -mgeneral-regs-only -fno-asynchronous-unwind-tables \
	 -ffunction-sections -fdata-sections -Os -Wall -Wextra -Werror
# Only gcc's own headers (stddef, stdint, stdarg, limits), our libc's and Xen's public ones: no host libc.
CPPFLAGS = -nostdinc -isystem $(shell $(CC) -print-file-name=include) \
	   -I$(RT_DIR)/libc/include -I$(RT_DIR)/include -I$(RT_DIR) -I$(RT_DIR)/../../xen-patches/include -I$(BUILD)/sysinc \
	   -D__XEN_INTERFACE_VERSION__=$(XEN_INTERFACE_VERSION) -DLVM_VIRT_BASE=$(VIRT_BASE)UL -MMD -MP $(APP_CPPFLAGS)
ASFLAGS = -D__ASSEMBLY__ -fno-pic -fno-pie -Wa,--noexecstack -DLVM_GUEST_OS='"lightvm-$(APP)"' -DLVM_STACK_SIZE=$(STACK_SIZE) -DLVM_VIRT_BASE_ASM=$(VIRT_BASE)
# -s: the domain builder needs no symbols. --gc-sections drops what an app does not use.
LDFLAGS = -nostdlib -no-pie -s --build-id=none --no-warn-rwx-segments --gc-sections

SRCS = $(RT_SRCS) $(APP_SRCS)
OBJS = $(BUILD)/head.o $(addprefix $(BUILD)/,$(notdir $(SRCS:.c=.o)))
vpath %.c $(sort $(dir $(SRCS)))

.DEFAULT_GOAL := all
all: $(APP)

$(APP): $(OBJS) $(RT_DIR)/runtime.lds
	$(LD) $(LDFLAGS) --defsym=LVM_VIRT_BASE=$(VIRT_BASE) -T $(RT_DIR)/runtime.lds -o $@ $(OBJS)

# Xen's public headers are the only copy of the ABI; the link keeps the rest of /usr/include out of reach.
$(BUILD)/sysinc/xen:
	mkdir -p $(BUILD)/sysinc
	ln -sfn /usr/include/xen $@

$(BUILD)/%.o: %.c Makefile | $(BUILD)/sysinc/xen
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/head.o: $(RT_DIR)/head.S Makefile | $(BUILD)/sysinc/xen
	$(CC) $(CPPFLAGS) $(ASFLAGS) -c -o $@ $<

clean:
	rm -rf $(APP) $(BUILD)

.PHONY: all clean

-include $(OBJS:.o=.d)
