// Reads what a Xen domain builder looks at in an ELF64 little-endian image: the header, program headers and notes.

export const PT_LOAD = 1;
export const PT_NOTE = 4;

export interface ElfHeader {
  elfClass: number;
  dataEncoding: number;
  type: number;
  machine: number;
  entry: bigint;
  phoff: number;
  phentsize: number;
  phnum: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: bigint;
}

export interface ElfNote {
  owner: string;
  type: number;
  desc: Buffer;
}

export class ElfFormatError extends Error {
  override name = 'ElfFormatError';
}

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;

// File offsets and sizes must fit the buffer; anything else is a malformed image, not a crash.
function fileRange(buf: Buffer, offset: bigint, size: bigint, what: string): [number, number] {
  if (offset < 0n || size < 0n || offset + size > BigInt(buf.length)) {
    throw new ElfFormatError(`${what} [${offset}, +${size}) lies outside the ${buf.length}-byte file`);
  }
  return [Number(offset), Number(size)];
}

export function readHeader(buf: Buffer): ElfHeader {
  if (buf.length < EHDR_SIZE || buf.readUInt32BE(0) !== 0x7f454c46) {
    throw new ElfFormatError('not an ELF file (bad magic or shorter than an ELF64 header)');
  }
  const elfClass = buf[4]!;
  const dataEncoding = buf[5]!;
  if (elfClass !== 2 || dataEncoding !== 1) {
    throw new ElfFormatError(`only ELF64 little-endian is read here (class ${elfClass}, data ${dataEncoding})`);
  }
  const [phoff] = fileRange(buf, buf.readBigUInt64LE(32), 0n, 'program header table');
  return {
    elfClass,
    dataEncoding,
    type: buf.readUInt16LE(16),
    machine: buf.readUInt16LE(18),
    entry: buf.readBigUInt64LE(24),
    phoff,
    phentsize: buf.readUInt16LE(54),
    phnum: buf.readUInt16LE(56),
  };
}

export function readProgramHeaders(buf: Buffer, hdr: ElfHeader): ProgramHeader[] {
  if (hdr.phnum > 0 && hdr.phentsize < PHDR_SIZE) {
    throw new ElfFormatError(`program header entries of ${hdr.phentsize} bytes are too small`);
  }
  fileRange(buf, BigInt(hdr.phoff), BigInt(hdr.phnum) * BigInt(hdr.phentsize), 'program header table');
  const out: ProgramHeader[] = [];
  for (let i = 0; i < hdr.phnum; i++) {
    const at = hdr.phoff + i * hdr.phentsize;
    const [offset, filesz] = fileRange(
      buf,
      buf.readBigUInt64LE(at + 8),
      buf.readBigUInt64LE(at + 32),
      `segment ${i}`,
    );
    out.push({
      type: buf.readUInt32LE(at),
      flags: buf.readUInt32LE(at + 4),
      offset,
      vaddr: buf.readBigUInt64LE(at + 16),
      paddr: buf.readBigUInt64LE(at + 24),
      filesz,
      memsz: buf.readBigUInt64LE(at + 40),
    });
  }
  return out;
}

const align4 = (n: number): number => (n + 3) & ~3;

// Notes of one PT_NOTE segment: namesz, descsz, type, then name and descriptor, each padded to 4 bytes.
export function readNotes(buf: Buffer, seg: ProgramHeader): ElfNote[] {
  const notes: ElfNote[] = [];
  const end = seg.offset + seg.filesz;
  let at = seg.offset;
  while (at + 12 <= end) {
    const namesz = buf.readUInt32LE(at);
    const descsz = buf.readUInt32LE(at + 4);
    const type = buf.readUInt32LE(at + 8);
    const nameAt = at + 12;
    const descAt = nameAt + align4(namesz);
    const next = descAt + align4(descsz);
    if (next > end) {
      throw new ElfFormatError(`note at offset ${at} runs past the end of its segment`);
    }
    // The owner name is NUL-terminated within namesz.
    const rawName = buf.subarray(nameAt, nameAt + namesz);
    const nul = rawName.indexOf(0);
    notes.push({
      owner: rawName.subarray(0, nul === -1 ? rawName.length : nul).toString('latin1'),
      type,
      desc: buf.subarray(descAt, descAt + descsz),
    });
    at = next;
  }
  return notes;
}

// A string descriptor as Xen reads it: up to the first NUL.
export function noteString(note: ElfNote): string {
  const nul = note.desc.indexOf(0);
  return note.desc.subarray(0, nul === -1 ? note.desc.length : nul).toString('latin1');
}

// A numeric descriptor: Xen accepts 4- or 8-byte little-endian values.
export function noteNumber(note: ElfNote): bigint {
  if (note.desc.length === 8) return note.desc.readBigUInt64LE(0);
  if (note.desc.length === 4) return BigInt(note.desc.readUInt32LE(0));
  throw new ElfFormatError(`note type ${note.type} has a ${note.desc.length}-byte value, expected 4 or 8`);
}
