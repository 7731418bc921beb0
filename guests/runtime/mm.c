/* mm.c: the page allocator (a bitmap over the pages the builder mapped for us) and malloc (power-of-two classes, large blocks as pages). */

#include "rt.h"

static struct {
	uint8_t *bitmap;	/* one bit per page from base: 1 = in use */
	unsigned long base, npages, nfree, hint;
} pages;

static int page_used(unsigned long i)
{
	return pages.bitmap[i / 8] >> (i % 8) & 1;
}

static void page_mark(unsigned long i, int used)
{
	if (used)
		pages.bitmap[i / 8] |= (uint8_t)(1 << (i % 8));
	else
		pages.bitmap[i / 8] &= (uint8_t)~(1 << (i % 8));
}

void rt_mm_init(void)
{
	unsigned long n = rt_end_pfn > rt_first_free_pfn ? rt_end_pfn - rt_first_free_pfn : 0;
	unsigned long map_pages = (n / 8 + PAGE_SIZE) / PAGE_SIZE;

	if (n <= map_pages)
		lvm_panic("no free memory (pages %lu-%lu)", rt_first_free_pfn, rt_end_pfn);
	/* The bitmap takes the first free pages itself. */
	pages.bitmap = pfn_to_virt(rt_first_free_pfn);
	memset(pages.bitmap, 0, map_pages * PAGE_SIZE);
	pages.base = rt_first_free_pfn + map_pages;
	pages.npages = n - map_pages;
	pages.nfree = pages.npages;
}

void *lvm_alloc_pages(unsigned int n)
{
	unsigned long start, i, tries;

	if (n == 0 || n > pages.nfree)
		return NULL;
	/* First fit from where the last allocation ended, wrapping once. */
	for (tries = 0, start = pages.hint; tries < pages.npages; ) {
		if (start + n > pages.npages) {
			tries += pages.npages - start;
			start = 0;
			continue;
		}
		for (i = 0; i < n && !page_used(start + i); i++)
			;
		if (i == n) {
			for (i = 0; i < n; i++)
				page_mark(start + i, 1);
			pages.nfree -= n;
			pages.hint = start + n;
			memset(pfn_to_virt(pages.base + start), 0, (size_t)n * PAGE_SIZE);
			return pfn_to_virt(pages.base + start);
		}
		tries += i + 1;
		start += i + 1;
	}
	return NULL;
}

void lvm_free_pages(void *p, unsigned int n)
{
	unsigned long first = virt_to_pfn(p), i;

	if (!p)
		return;
	if (((unsigned long)p & ~PAGE_MASK) || first < pages.base || first - pages.base + n > pages.npages)
		lvm_panic("lvm_free_pages(%p, %u): not an allocated block", p, n);
	for (i = 0; i < n; i++) {
		if (!page_used(first - pages.base + i))
			lvm_panic("lvm_free_pages(%p, %u): page freed twice", p, n);
		page_mark(first - pages.base + i, 0);
	}
	pages.nfree += n;
}

void lvm_mem_stats(unsigned long *total, unsigned long *nfree)
{
	*total = pages.npages;
	*nfree = pages.nfree;
}

/*
 * malloc: every block starts with a 16-byte header (keeping the payload
 * 16-byte aligned) that says which class it came from, or how many pages
 * it spans; classes are 32 .. 2048 bytes, carved from whole pages.
 */
#define HDR		16
#define MIN_SHIFT	5
#define MAX_SHIFT	11
#define LARGE		0x80000000U
#define MAGIC		0x4c564d00U	/* "LVM\0": catches frees of foreign pointers */

struct hdr {
	uint32_t magic;
	uint32_t info;		/* class shift, or LARGE | pages */
	void *next;		/* free-list link while free */
};
_Static_assert(sizeof(struct hdr) == HDR, "malloc header size");

static struct hdr *free_lists[MAX_SHIFT + 1];

void *malloc(size_t n)
{
	unsigned int shift = MIN_SHIFT;
	struct hdr *h;

	if (n > (1UL << 30))
		return NULL;
	if (n + HDR > (1U << MAX_SHIFT)) {
		unsigned int np = (unsigned int)((n + HDR + PAGE_SIZE - 1) / PAGE_SIZE);

		h = lvm_alloc_pages(np);
		if (!h)
			return NULL;
		h->magic = MAGIC;
		h->info = LARGE | np;
		return (uint8_t *)h + HDR;
	}
	while ((1U << shift) < n + HDR)
		shift++;
	if (!free_lists[shift]) {
		uint8_t *page = lvm_alloc_pages(1);
		size_t off;

		if (!page)
			return NULL;
		for (off = 0; off < PAGE_SIZE; off += 1U << shift) {
			h = (struct hdr *)(page + off);
			h->magic = MAGIC;
			h->info = shift;
			h->next = free_lists[shift];
			free_lists[shift] = h;
		}
	}
	h = free_lists[shift];
	free_lists[shift] = h->next;
	h->next = NULL;
	return (uint8_t *)h + HDR;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > (~(size_t)0) / size)
		return NULL;
	p = malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void free(void *p)
{
	struct hdr *h;

	if (!p)
		return;
	h = (struct hdr *)((uint8_t *)p - HDR);
	if (h->magic != MAGIC)
		lvm_panic("free(%p): not a malloc block", p);
	if (h->info & LARGE) {
		h->magic = 0;
		lvm_free_pages(h, h->info & ~LARGE);
		return;
	}
	if (h->info < MIN_SHIFT || h->info > MAX_SHIFT)
		lvm_panic("free(%p): corrupt header", p);
	h->next = free_lists[h->info];
	free_lists[h->info] = h;
}
