/**
 * Reusable `Float64Array` storage for the request path.
 *
 * A `Float64Array` of more than 64 bytes (a wine row is 88) gets its own off-heap `ArrayBuffer`:
 * a `calloc`, a tracking extension, and a `free` inside the next scavenge's pause. One per request
 * made the model server's scavenges several times longer than bare Node's, which is what its p99
 * at 16 connections was paying for. A server decodes and predicts one request at a time
 * (synchronously, from the parsed body to the serialised response), so one buffer per use serves
 * every request: {@link Float64Scratch.take} hands out a fresh view on it.
 *
 * A view is valid until the next `take` on the same scratch: whatever outlives the request (the
 * request log's records) must copy it.
 *
 * @example
 * const scratch = new Float64Scratch();
 * const x = scratch.take(rows * features); // zeroed, length rows × features
 */
export class Float64Scratch {
  /** Longest view served from the reused buffer; longer ones are allocated, so one large batch does not pin its memory. */
  readonly maxReused: number;
  private buffer: ArrayBuffer;
  /** The buffer's length in elements: `byteLength` is a getter call on every read. */
  private capacity: number;
  /** The whole reused buffer as one array, for {@link Float64Scratch.staging}; rebuilt when the buffer grows. */
  private whole: Float64Array | undefined;
  /**
   * The last view handed out: requests of one shape ask for the same length every time, and the
   * same view of the same storage serves them without a typed array object per request.
   */
  private last: Float64Array | undefined;

  /**
   * @param maxReused the longest view served from the reused buffer, in elements. @default 8192 (64 KiB)
   */
  constructor(maxReused = 8192) {
    this.maxReused = maxReused;
    this.capacity = Math.min(256, maxReused);
    this.buffer = new ArrayBuffer(8 * this.capacity);
  }

  /** A zeroed array of `length` elements; views of the reused buffer are overwritten by the next `take`. */
  take(length: number): Float64Array {
    if (length > this.maxReused) return new Float64Array(length);
    // Zeroed so a decoder that leaves a cell unwritten reads 0, never the previous request's value.
    return this.view(length).fill(0);
  }

  /** {@link take} without the zeroing, for a caller that writes every element before reading any. */
  claim(length: number): Float64Array {
    return length > this.maxReused ? new Float64Array(length) : this.view(length);
  }

  /**
   * The reused buffer, at least `capacity` elements long, not zeroed (`undefined` past
   * {@link maxReused}): for a decoder that learns how many values a request holds only by writing
   * them. It writes from index 0, then asks {@link view} for the exact length; no allocation unless
   * the buffer grows.
   */
  staging(capacity: number): Float64Array | undefined {
    if (capacity > this.maxReused) return undefined;
    this.reserve(capacity);
    return (this.whole ??= new Float64Array(this.buffer));
  }

  /** The first `length` elements of the reused buffer as they are (what {@link staging}'s user wrote). */
  view(length: number): Float64Array {
    this.reserve(length);
    const last = this.last;
    if (last !== undefined && last.length === length) return last;
    return (this.last = new Float64Array(this.buffer, 0, length));
  }

  private reserve(length: number): void {
    const capacity = this.capacity;
    if (length > capacity) {
      // Doubling: a server whose batches creep up grows the buffer a few times, not once per size.
      this.capacity = Math.min(this.maxReused, Math.max(length, 2 * capacity));
      this.buffer = new ArrayBuffer(8 * this.capacity);
      this.whole = undefined;
      this.last = undefined;
    }
  }
}

/** `length` zeroed elements from `scratch`, or a new array without one. */
export function float64(length: number, scratch: Float64Scratch | undefined): Float64Array {
  return scratch === undefined ? new Float64Array(length) : scratch.take(length);
}
