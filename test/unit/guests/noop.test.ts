// Checks that guests/noop/noop is an image a Xen PV domain builder accepts: ELF64 x86-64, Xen notes, entry in a loaded segment, small, with its ready mark.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  ElfFormatError,
  PT_LOAD,
  PT_NOTE,
  noteNumber,
  noteString,
  readHeader,
  readNotes,
  readProgramHeaders,
  type ElfNote,
  type ProgramHeader,
} from './elf.js';

// Note types from xen/include/public/elfnote.h.
const XEN_ELFNOTE_ENTRY = 1;
const XEN_ELFNOTE_HYPERCALL_PAGE = 2;
const XEN_ELFNOTE_VIRT_BASE = 3;
const XEN_ELFNOTE_PADDR_OFFSET = 4;
const XEN_ELFNOTE_XEN_VERSION = 5;
const XEN_ELFNOTE_GUEST_OS = 6;
const XEN_ELFNOTE_LOADER = 8;

const ET_EXEC = 2;
const EM_X86_64 = 62;
const READY_MARK = 'LIGHTVM-READY noop';
const MAX_IMAGE_BYTES = 64 * 1024;
// The guest is meant to run in 2 MiB; its own footprint must leave room for the builder's pages.
const MAX_LOADED_BYTES = 1024n * 1024n;
// The runtime links every guest at 3 MiB (guests/runtime/runtime.mk says why): pseudo-physical 0 is there.
const VIRT_BASE = 0x300000n;

// The same file runs from test/ (source) and dist/test/ (compiled): find the repository by its guests/Makefile.
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'guests', 'Makefile'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (no guests/Makefile above this test)');
    dir = up;
  }
}

const root = repoRoot();
const imagePath = join(root, 'guests', 'noop', 'noop');
if (!existsSync(imagePath)) {
  execFileSync('make', ['-s', '-C', join(root, 'guests')], { stdio: ['ignore', 'inherit', 'inherit'] });
}
const image = readFileSync(imagePath);

const header = readHeader(image);
const segments = readProgramHeaders(image, header);
const loads = segments.filter((s) => s.type === PT_LOAD);
const xenNotes: ElfNote[] = segments
  .filter((s) => s.type === PT_NOTE)
  .flatMap((s) => readNotes(image, s))
  .filter((n) => n.owner === 'Xen');

function xenNote(type: number): ElfNote | undefined {
  return xenNotes.find((n) => n.type === type);
}

function loadHolding(addr: bigint, fileBacked: boolean): ProgramHeader | undefined {
  return loads.find((s) => addr >= s.vaddr && addr < s.vaddr + (fileBacked ? BigInt(s.filesz) : s.memsz));
}

t.test('ELF header: a 64-bit x86 executable', async (t) => {
  t.equal(header.elfClass, 2, 'ELFCLASS64');
  t.equal(header.dataEncoding, 1, 'little-endian');
  t.equal(header.type, ET_EXEC, 'ET_EXEC');
  t.equal(header.machine, EM_X86_64, 'EM_X86_64');
  t.ok(loads.length >= 1, 'has a PT_LOAD segment');
});

t.test('Xen notes in a PT_NOTE segment', async (t) => {
  t.ok(segments.some((s) => s.type === PT_NOTE), 'has a PT_NOTE segment');
  for (const type of [
    XEN_ELFNOTE_ENTRY,
    XEN_ELFNOTE_HYPERCALL_PAGE,
    XEN_ELFNOTE_VIRT_BASE,
    XEN_ELFNOTE_PADDR_OFFSET,
    XEN_ELFNOTE_XEN_VERSION,
    XEN_ELFNOTE_GUEST_OS,
    XEN_ELFNOTE_LOADER,
  ]) {
    t.equal(xenNotes.filter((n) => n.type === type).length, 1, `exactly one Xen note of type ${type}`);
  }
  const str = (type: number): string | undefined => {
    const note = xenNote(type);
    return note && noteString(note);
  };
  const num = (type: number): bigint | undefined => {
    const note = xenNote(type);
    return note && noteNumber(note);
  };
  t.equal(str(XEN_ELFNOTE_GUEST_OS), 'lightvm-noop', 'GUEST_OS');
  t.equal(str(XEN_ELFNOTE_LOADER), 'generic', 'LOADER');
  t.equal(str(XEN_ELFNOTE_XEN_VERSION), 'xen-3.0', 'XEN_VERSION');
  t.equal(num(XEN_ELFNOTE_VIRT_BASE), VIRT_BASE, 'VIRT_BASE 3 MiB');
  t.equal(num(XEN_ELFNOTE_PADDR_OFFSET), VIRT_BASE, 'PADDR_OFFSET equal to VIRT_BASE');
});

t.test('entry point lies in loaded code', async (t) => {
  const note = xenNote(XEN_ELFNOTE_ENTRY);
  if (!note) {
    t.fail('no ENTRY note');
    return;
  }
  const entry = noteNumber(note);
  t.equal(entry, header.entry, 'ENTRY note matches e_entry');
  const seg = loadHolding(entry, true);
  t.ok(seg, `ENTRY 0x${entry.toString(16)} is inside a PT_LOAD's file-backed bytes`);
  t.ok(seg && (seg.flags & 1) !== 0, 'that segment is executable');
});

t.test('hypercall page lies in loaded memory', async (t) => {
  const note = xenNote(XEN_ELFNOTE_HYPERCALL_PAGE);
  if (!note) {
    t.fail('no HYPERCALL_PAGE note');
    return;
  }
  const page = noteNumber(note);
  t.equal(page % 4096n, 0n, 'page-aligned');
  const seg = loadHolding(page, false);
  t.ok(seg && page + 4096n <= seg.vaddr + seg.memsz, 'the whole page is inside a PT_LOAD');
});

t.test('layout matches VIRT_BASE and PADDR_OFFSET', async (t) => {
  // With PADDR_OFFSET == VIRT_BASE the builder loads each segment at paddr - VIRT_BASE and runs it at vaddr.
  for (const seg of loads) {
    t.equal(seg.paddr, seg.vaddr, `PT_LOAD at 0x${seg.vaddr.toString(16)} has paddr == vaddr`);
    t.ok(seg.vaddr >= VIRT_BASE, `PT_LOAD at 0x${seg.vaddr.toString(16)} is not below VIRT_BASE`);
  }
  t.equal(loads[0]?.vaddr, VIRT_BASE, 'the image starts at VIRT_BASE: its first page is pseudo-physical page 0');
});

t.test('small enough to be cheap', async (t) => {
  t.ok(image.length < MAX_IMAGE_BYTES, `image is ${image.length} bytes (< ${MAX_IMAGE_BYTES})`);
  const loaded = loads.reduce((sum, s) => sum + s.memsz, 0n);
  t.ok(loaded < MAX_LOADED_BYTES, `loaded segments take ${loaded} bytes (< ${MAX_LOADED_BYTES})`);
});

t.test('carries its ready mark', async (t) => {
  t.ok(image.includes(READY_MARK), `image contains "${READY_MARK}"`);
});

t.test('the ELF reader rejects what it cannot read', async (t) => {
  t.throws(() => readHeader(Buffer.from('#!/bin/sh\necho not an ELF image at all, just some text')), ElfFormatError);
  const elf32 = Buffer.from(image);
  elf32[4] = 1;
  t.throws(() => readHeader(elf32), ElfFormatError, 'ELF32 is refused');
  // A segment claiming more bytes than the file holds must not be read past the end.
  const truncated = image.subarray(0, Math.min(image.length, header.phoff + header.phnum * header.phentsize));
  const firstLoad = loads[0];
  if (firstLoad && firstLoad.offset + firstLoad.filesz > truncated.length) {
    t.throws(() => readProgramHeaders(truncated, header), ElfFormatError, 'segment past end of file');
  } else {
    t.fail('expected the first PT_LOAD to extend past the program headers');
  }
});
