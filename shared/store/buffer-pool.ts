/**
 * Reusable read buffers for concurrent positioned reads. One shared buffer is wrong as soon as two reads are in flight
 * (the second overwrites what the first has not decoded yet); a new buffer per read is garbage on every call. A pool
 * hands each read in flight its own buffer and takes it back after: it grows to the concurrency seen, then allocates
 * nothing. It keeps at most `maxIdle` buffers idle; a burst of concurrency beyond that leaves its extra buffers to the
 * collector rather than holding them forever.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  /** Buffers ever allocated (= the most reads in flight at once, unless some needed a bigger one). */
  allocated = 0;

  constructor(
    private readonly minSize = 16 * 1024,
    private readonly maxIdle = 8,
  ) {}

  /** A buffer of at least `size` bytes, for the caller alone until `release`. */
  acquire(size: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i].length >= size) {
        const b = this.free[i];
        this.free[i] = this.free[this.free.length - 1];
        this.free.pop();
        return b;
      }
    }
    this.allocated++;
    let cap = this.minSize;
    while (cap < size) cap *= 2;
    return Buffer.allocUnsafeSlow(cap);
  }

  release(b: Buffer): void {
    if (this.free.length < this.maxIdle) this.free.push(b);
  }

  /** Bytes held by idle buffers. */
  get idleBytes(): number {
    return this.free.reduce((s, b) => s + b.length, 0);
  }
}
