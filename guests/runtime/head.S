/* head.S: the runtime's entry point, Xen ELF notes, boot stack, hypercall page, event upcall and trap entry stubs. */

#include <xen/xen.h>
#include <xen/elfnote.h>

/* LVM_GUEST_OS: the app's quoted GUEST_OS string, e.g. "lightvm-noop", from the app's Makefile. */
#ifndef LVM_GUEST_OS
#error "LVM_GUEST_OS is not set"
#endif

/*
 * A Xen note: owner "Xen" (namesz 4), then the descriptor padded to 4
 * bytes. descsz counts a string's NUL: the builder reads C strings.
 */
.macro	xen_note_str type, text
	.balign	4
	.long	4, 2f - 1f, \type
	.asciz	"Xen"
1:	.asciz	"\text"
2:	.balign	4
.endm

.macro	xen_note_quad type, value
	.balign	4
	.long	4, 8, \type
	.asciz	"Xen"
	.quad	\value
.endm

	.section .note.Xen, "a", @note
	xen_note_str	XEN_ELFNOTE_GUEST_OS, LVM_GUEST_OS
	xen_note_str	XEN_ELFNOTE_XEN_VERSION, "xen-3.0"
	xen_note_str	XEN_ELFNOTE_LOADER, "generic"
	/* Image linked at VIRT_BASE, pseudo-physical 0 there: virtual address == VIRT_BASE + (pfn << 12). */
	xen_note_quad	XEN_ELFNOTE_VIRT_BASE, LVM_VIRT_BASE_ASM
	xen_note_quad	XEN_ELFNOTE_PADDR_OFFSET, LVM_VIRT_BASE_ASM
	xen_note_quad	XEN_ELFNOTE_ENTRY, _start
	xen_note_quad	XEN_ELFNOTE_HYPERCALL_PAGE, hypercall_page

/* Xen enters in 64-bit mode with %rsi = start_info and event delivery masked. */
	.section .text.boot, "ax", @progbits
	.globl	_start
_start:
	cld
	movq	$boot_stack_top, %rsp
	movq	%rsi, %rdi
	call	rt_boot
	ud2

/*
 * Event upcall. Xen pushed %rcx and %r11 above an iret frame (rip, cs,
 * rflags, rsp, ss) and masked events. We restore %rcx/%r11, save the
 * caller-saved registers, dispatch, and return through HYPERVISOR_iret,
 * whose frame is rax, r11, rcx (pushed by Xen's stub), flags (ours), then
 * the iret frame: it unmasks events again from the saved rflags.IF.
 */
	.text
	.globl	rt_hypervisor_callback
rt_hypervisor_callback:
	movq	(%rsp), %rcx
	movq	8(%rsp), %r11
	addq	$16, %rsp
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%rbp
	movq	%rsp, %rbp
	andq	$-16, %rsp
	call	rt_evtchn_upcall
	movq	%rbp, %rsp
	popq	%rbp
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	/* flags = 0; the iret stub itself pushes %rcx, %r11 and %rax. */
	pushq	$0
	jmp	hypercall_page + __HYPERVISOR_iret * 32

/* Xen could not load our segment registers on a return: nothing to recover. */
	.globl	rt_failsafe_callback
rt_failsafe_callback:
	movq	$-1, %rdi
	movq	%rsp, %rsi
	andq	$-16, %rsp
	call	rt_trap_fatal
	ud2

/*
 * Exceptions: every one is fatal here. The stub records the vector and
 * whether Xen pushed an error code; the frame is rcx, r11, [error], rip...
 */
.macro	trap_stub vec, has_err
	.globl	rt_trap_\vec
rt_trap_\vec:
	movq	$\vec | (\has_err << 8), %rdi
	movq	%rsp, %rsi
	andq	$-16, %rsp
	call	rt_trap_fatal
	ud2
.endm
	trap_stub 0, 0
	trap_stub 1, 0
	trap_stub 2, 0
	trap_stub 3, 0
	trap_stub 4, 0
	trap_stub 5, 0
	trap_stub 6, 0
	trap_stub 7, 0
	trap_stub 8, 1
	trap_stub 9, 0
	trap_stub 10, 1
	trap_stub 11, 1
	trap_stub 12, 1
	trap_stub 13, 1
	trap_stub 14, 1
	trap_stub 16, 0
	trap_stub 17, 1
	trap_stub 18, 0
	trap_stub 19, 0

/*
 * Xen fills this page with one 32-byte stub per hypercall when it builds
 * the domain; in .bss the file need not carry 4 KiB of zeros.
 */
	.section .bss.hypercall_page, "aw", @nobits
	.balign	4096
	.globl	hypercall_page
hypercall_page:
	.skip	4096

/* lwIP's TCP input path nests deep enough that 8 KiB is tight. */
	.section .bss.stack, "aw", @nobits
	.balign	16
boot_stack:
	.skip	LVM_STACK_SIZE
	.globl	boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
