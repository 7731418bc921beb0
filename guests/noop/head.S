/* head.S: the noop guest's entry point, its Xen ELF notes, boot stack and hypercall page. */

#include <xen/elfnote.h>

/*
 * A Xen note: owner "Xen" (namesz 4, already a multiple of 4), then the
 * descriptor padded to 4 bytes. descsz counts a string's NUL, as the
 * domain builder reads string notes as C strings.
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
	xen_note_str	XEN_ELFNOTE_GUEST_OS, "lightvm-noop"
	xen_note_str	XEN_ELFNOTE_XEN_VERSION, "xen-3.0"
	xen_note_str	XEN_ELFNOTE_LOADER, "generic"
	/* Image linked at 0 with VIRT_BASE 0: virtual address == pfn << 12. */
	xen_note_quad	XEN_ELFNOTE_VIRT_BASE, 0
	xen_note_quad	XEN_ELFNOTE_PADDR_OFFSET, 0
	xen_note_quad	XEN_ELFNOTE_ENTRY, _start
	xen_note_quad	XEN_ELFNOTE_HYPERCALL_PAGE, hypercall_page

/*
 * Xen enters in 64-bit mode with %rsi = start_info, events masked and a
 * stack of its own choosing; ours is in .bss so its size is known here.
 */
	.section .text.boot, "ax", @progbits
	.globl	_start
_start:
	cld
	movq	$boot_stack_top, %rsp
	movq	%rsi, %rdi
	call	noop_main
	/* noop_main never returns; with no trap table a fault ends the domain. */
	ud2

/*
 * Xen fills this page with one 32-byte stub per hypercall when it builds
 * the domain; it lives in .bss because the builder zeroes .bss before
 * writing it, and the file then need not carry 4 KiB of zeros.
 */
	.section .bss.hypercall_page, "aw", @nobits
	.balign	4096
	.globl	hypercall_page
hypercall_page:
	.skip	4096

	.section .bss.stack, "aw", @nobits
	.balign	16
boot_stack:
	.skip	8192
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
