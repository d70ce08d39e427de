// Gemm: the matrix multiply that convolution (im2col) and dense layers run on.
//
//   C[m x n] = op(A)[m x k] * op(B)[k x n]          (accumulate: C += op(A) * op(B))
//
// Row-major storage, leading dimension = distance between consecutive stored rows:
//   op(A)[i, p] = transA ? a[p * lda + i] : a[i * lda + p]     (A stored k x m, or m x k)
//   op(B)[p, j] = transB ? b[j * ldb + p] : b[p * ldb + j]     (B stored n x k, or k x n)
//   C[i, j]     = c[i * ldc + j]
//
// Blocking scheme (GotoBLAS / BLIS, transposed for row-major C so that the vectorised dimension
// is n, the contiguous one):
//
//   for jc in columns, step NC                        C[:, jc..jc+nc] is one column block
//     for pc in 0..k, step KC                         one slice of the sum over k
//       pack op(B)[pc.., jc..] -> Bp                  kc x nc, panels of NR columns   (lives in L2)
//       for ic in 0..m, step MC
//         pack op(A)[ic.., pc..] -> Ap                mc x kc, panels of MR rows
//         for ir in 0..mc, step MR                    one A micro-panel kc x MR       (lives in L1)
//           for jr in 0..nc, step NR                  B micro-panels stream from L2
//             micro-kernel: C[ic+ir.., jc+jr..] (+)= Ap panel * Bp panel     (MR x NR in registers)
//
// Each micro-kernel step loads NR values of B as whole registers and broadcasts MR values of A,
// so B is the wide stream (it sits in L2 and is read sequentially), and the small A micro-panel
// stays in L1 for the whole jr loop. Packing makes both streams contiguous, 64-byte aligned and
// zero-padded to whole tiles, whatever the transposes and leading dimensions.
//
// Tile and block sizes (see GemmMicroKernels.cs for MR x NR):
//   AVX-512: MR x NR = 8 x 48 float, 8 x 24 double (8 rows x 3 registers)
//   AVX2 / SSE / scalar: 6 rows x 2 registers (6 x 16, 6 x 8, 6 x 2 floats)
//   The last column panel, when it has fewer than NR columns, is packed only as wide as the whole
//     registers it needs and run by the kernel's narrow variant (8 x 1 or 8 x 2 registers, 6 x 1): a
//     convolution output of 196 positions is 4 x 48 + 4 columns, and the last 4 then cost a 16-wide
//     tile instead of a 48-wide one. Same multiply-adds per element, so the same bits.
//   KC <= 256: an A micro-panel is kc*MR values (8 KB float, 16 KB double at 256), well inside a
//     48 KB L1 next to the B stream. k is split into equal slices (k = 800 -> 4 x 200) so there
//     is no thin last slice.
//   NC: the packed B block kc x nc is kept to ~512 KB, half of a 1 MB L2 (Zen 4/5; Intel server
//     parts have 1-2 MB), leaving room for the C tiles and A. Columns are split into equal blocks.
//   MC: the packed A block mc x kc is kept to ~256 KB. When all of op(A) padded to whole panels
//     is at most 2 MB (m = 64, k = 3136 float is 800 KB), it is packed once per call and reused
//     by every column block instead of being repacked per block.
//
// Where the time goes: the micro-kernel's inner loop is 3 loads + 8 broadcasts + 24 FMAs with no
// spills and runs at the FMA peak; what is left is packing B, which streams op(B) from memory once
// per call. For small m (m = 64: each B value feeds only 128 flops) that is a fifth or so of the
// run, so the packing routines prefetch the rows they will copy next (GemmPacking.cs).
//
// Every row of C is computed the same way whatever m is, so a sample's result does not depend on the
// batch it is in (a prediction for one image equals its prediction within a batch). That is why there
// is no separate path for very few rows, tempting as it is for a dense layer at batch 1.
//
// The canonical order (docs/DETERMINISM.md), the same on every width, so the bits do not depend on the
// vector width, the tile, the blocking in m and n, or the thread count: vectorised only across the
// columns of C (a lane is one C[i, j], never a part of the sum over k); k cut into slices of
// kc = DepthSlice(k) (<= 256, from k alone); each slice summed from zero with one FUSED multiply-add
// per p in increasing p (MultiplyAdd is fused on every width, the scalar one included); the first slice
// stored to C (or added to C when accumulating), each later slice added to C, in increasing pc.
// GemmReference.Multiply is that order as a plain loop, and the tests compare bits. The column loop (jc) is independent per block:
// MultiplyColumns computes any column range of C on its own, which is how ParallelGemm splits the
// work across threads without changing any arithmetic. MultiplyPacked runs the same loops on an op(B) that is
// never stored: a packer (IGemmBPacker) writes its panels, as Im2ColPanels writes a convolution's im2col columns
// straight from the padded input maps; the same panels give the same bits.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>
/// Dense matrix multiply on row-major matrices: C = op(A) * op(B) or C += op(A) * op(B),
/// packed and register-blocked, vectorised with the widest SIMD registers the machine has.
/// </summary>
public static class Gemm
{
    /// <summary>Largest slice of k packed at once (KC).</summary>
    private const int MaxDepth = 256;

    /// <summary>Target size in bytes of the packed B block (kc x nc).</summary>
    internal const int PackedBBytes = 512 * 1024;

    /// <summary>Target size in bytes of the packed A block (mc x kc).</summary>
    internal const int PackedABytes = 256 * 1024;

    /// <summary>Largest padded op(A) in bytes that is packed once per call and reused for every column block.</summary>
    internal const int WholeABytes = 2 * 1024 * 1024;

    /// <summary>
    /// C[m x n] = op(A)[m x k] * op(B)[k x n], or C += op(A) * op(B) when <paramref name="accumulate"/> is true.
    /// All matrices are row-major. op(A) is A (stored m x k, <paramref name="lda"/> &gt;= k) or, when
    /// <paramref name="transA"/>, A^T (A stored k x m, lda &gt;= m). op(B) is B (stored k x n,
    /// <paramref name="ldb"/> &gt;= n) or, when <paramref name="transB"/>, B^T (B stored n x k, ldb &gt;= k).
    /// <paramref name="ldc"/> &gt;= n. Only the m x n region of C (row stride ldc) is written.
    /// Single-threaded, allocation-free after the calling thread's first use of a block size,
    /// and deterministic: the same inputs give bit-identical output on every machine and SIMD width (the canonical
    /// order of docs/DETERMINISM.md).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A size is negative, a leading dimension is smaller than its row length, a span is too short
    /// for the matrix it holds, or <paramref name="c"/> overlaps <paramref name="a"/> or <paramref name="b"/>.
    /// </exception>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        MultiplyValidated(transA, transB, m, k, a, lda, b, ldb, c, ldc, accumulate, 0, n);
    }

    /// <summary>
    /// As <see cref="Multiply{T}"/>, but computes only columns <paramref name="columnStart"/> ..
    /// <paramref name="columnStart"/> + <paramref name="columnCount"/> of C, reading only the matching
    /// columns of op(B). The result in those columns is bit-identical to a full <see cref="Multiply{T}"/>,
    /// so disjoint column ranges can be computed on different threads.
    /// </summary>
    internal static void MultiplyColumns<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate, int columnStart, int columnCount)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (columnStart < 0 || columnCount < 0 || columnStart > n - columnCount)
            throw new ArgumentOutOfRangeException(nameof(columnCount),
                $"Column range {columnStart} + {columnCount} is outside the {n} columns of C.");
        MultiplyValidated(transA, transB, m, k, a, lda, b, ldb, c, ldc, accumulate, columnStart, columnStart + columnCount);
    }

    internal static void Validate<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ValidateMatrix(transA ? k : m, transA ? m : k, a.Length, lda, nameof(a), nameof(lda));
        ValidateMatrix(transB ? n : k, transB ? k : n, b.Length, ldb, nameof(b), nameof(ldb));
        ValidateMatrix(m, n, c.Length, ldc, nameof(c), nameof(ldc));
        if (c.Overlaps(a))
            throw new ArgumentException("The output span c overlaps the input span a.", nameof(c));
        if (c.Overlaps(b))
            throw new ArgumentException("The output span c overlaps the input span b.", nameof(c));
    }

    /// <summary>Checks a stored rows x columns matrix with leading dimension <paramref name="ld"/> fits its span.</summary>
    private static void ValidateMatrix(int rows, int columns, int length, int ld, string spanName, string ldName)
    {
        if (ld < columns || ld < 0)
            throw new ArgumentException(
                $"Leading dimension {ldName} = {ld} is smaller than the row length {columns} of {spanName} (stored {rows} x {columns}).",
                ldName);
        if (rows == 0 || columns == 0)
            return;
        long needed = (long)(rows - 1) * ld + columns;
        if (length < needed)
            throw new ArgumentException(
                $"Span {spanName} has {length} elements, but a stored {rows} x {columns} matrix with leading dimension {ld} needs {needed}.",
                spanName);
    }

    /// <summary>Picks the widest accelerated SIMD width and its micro-kernel, then runs the blocked loops on C's columns columnStart..columnEnd.</summary>
    private static void MultiplyValidated<T>(bool transA, bool transB, int m, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate, int columnStart, int columnEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || columnEnd == columnStart)
            return;

        ref T cRef = ref MemoryMarshal.GetReference(c);
        if (k == 0)
        {
            if (!accumulate)
            {
                for (int i = 0; i < m; i++)
                    MemoryMarshal.CreateSpan(ref Unsafe.Add(ref cRef, (nint)i * ldc + columnStart), columnEnd - columnStart).Clear();
            }
            return;
        }

        ref T aRef = ref MemoryMarshal.GetReference(a);
        ref T bRef = ref MemoryMarshal.GetReference(b);
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel8x3<T, Vector512<T>, Width512<T>>>(transA, transB, m, k,
                    ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel6x2<T, Vector256<T>, Width256<T>>>(transA, transB, m, k,
                    ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
                return;
            }
            if (Vector128.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel6x2<T, Vector128<T>, Width128<T>>>(transA, transB, m, k,
                    ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
                return;
            }
        }
        MultiplyBlocked<T, MicroKernel6x2<T, T, WidthScalar<T>>>(transA, transB, m, k,
            ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
    }

    /// <summary>The five blocking loops around the micro-kernel (see the top of this file), op(B) stored in memory.</summary>
    private static void MultiplyBlocked<T, TKernel>(bool transA, bool transB, int m, int k,
        ref T a, nint lda, ref T b, nint ldb, ref T c, nint ldc, bool accumulate, int columnStart, int columnEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IGemmMicroKernel<T>
    {
        var stored = new StoredB<T>(transB, ref b, ldb);
        MultiplyBlocked<T, TKernel, StoredB<T>>(transA, m, k, ref a, lda, ref stored, ref c, ldc, accumulate, columnStart, columnEnd);
    }

    /// <summary>
    /// C[m x n] = A[m x k] * op(B)[k x n] (or C += ...), A stored m x k (<paramref name="lda"/> &gt;= k), where op(B) is not stored
    /// but packed straight into the panels by <paramref name="packer"/> (a convolution's weight gradient packs its im2col
    /// columns from the padded input: <see cref="Im2ColPanels{T}"/>). The blocking, the micro-kernels and so the canonical
    /// order are <see cref="Multiply{T}"/>'s: given the packer writes what <c>GemmPacking.PackB</c> would from the stored
    /// matrix, the bits are the same.
    /// </summary>
    internal static void MultiplyPacked<T, TPacker>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ref TPacker packer,
        Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TPacker : struct, IGemmBPacker<T>, allows ref struct
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ValidateMatrix(m, k, a.Length, lda, nameof(a), nameof(lda));
        ValidateMatrix(m, n, c.Length, ldc, nameof(c), nameof(ldc));
        if (c.Overlaps(a)) throw new ArgumentException("The output span c overlaps the input span a.", nameof(c));
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
            return;
        }
        ref T aRef = ref MemoryMarshal.GetReference(a);
        ref T cRef = ref MemoryMarshal.GetReference(c);
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel8x3<T, Vector512<T>, Width512<T>>, TPacker>(false, m, k, ref aRef, lda, ref packer, ref cRef, ldc, accumulate, 0, n);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel6x2<T, Vector256<T>, Width256<T>>, TPacker>(false, m, k, ref aRef, lda, ref packer, ref cRef, ldc, accumulate, 0, n);
                return;
            }
            if (Vector128.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel6x2<T, Vector128<T>, Width128<T>>, TPacker>(false, m, k, ref aRef, lda, ref packer, ref cRef, ldc, accumulate, 0, n);
                return;
            }
        }
        MultiplyBlocked<T, MicroKernel6x2<T, T, WidthScalar<T>>, TPacker>(false, m, k, ref aRef, lda, ref packer, ref cRef, ldc, accumulate, 0, n);
    }

    /// <summary>The blocking loops, op(B)'s blocks packed by <paramref name="packer"/>.</summary>
    private static void MultiplyBlocked<T, TKernel, TPacker>(bool transA, int m, int k,
        ref T a, nint lda, ref TPacker packer, ref T c, nint ldc, bool accumulate, int columnStart, int columnEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IGemmMicroKernel<T>
        where TPacker : struct, IGemmBPacker<T>, allows ref struct
    {
        int mr = TKernel.Rows;
        int nr = TKernel.Columns;
        int size = Unsafe.SizeOf<T>();
        int columns = columnEnd - columnStart;

        int kc = DepthSlice(k);
        int nc = EqualBlock(columns, Math.Max(nr, PackedBBytes / (kc * size) / nr * nr), nr);
        int mc = EqualBlock(m, Math.Max(mr, PackedABytes / (kc * size) / mr * mr), mr);

        // When all of op(A), padded to whole panels, is small, pack it once and reuse it for every
        // column block instead of repacking it per block. Slice pc, row block ic then starts at
        // pc * paddedRows + ic * kcBlock (the slices before pc hold pc columns of paddedRows values).
        int paddedRows = (m + mr - 1) / mr * mr;
        bool packAOnce = (long)paddedRows * k * size <= WholeABytes;

        ref T packedA = ref GemmPackingBuffers<T>.ForA(packAOnce ? paddedRows * k : mc * kc);
        ref T packedB = ref GemmPackingBuffers<T>.ForB(nc * kc);
        Span<T> scratchTile = stackalloc T[mr * nr];
        ref T scratch = ref MemoryMarshal.GetReference(scratchTile);

        for (int jc = columnStart; jc < columnEnd; jc += nc)
        {
            int ncBlock = Math.Min(nc, columnEnd - jc);
            for (int pc = 0; pc < k; pc += kc)
            {
                int kcBlock = Math.Min(kc, k - pc);
                bool overwrite = !accumulate && pc == 0;
                packer.Pack<TKernel>(pc, kcBlock, jc, ncBlock, ref packedB);

                for (int ic = 0; ic < m; ic += mc)
                {
                    int mcBlock = Math.Min(mc, m - ic);
                    ref T aBlock = ref packAOnce ? ref Unsafe.Add(ref packedA, (nint)pc * paddedRows + (nint)ic * kcBlock) : ref packedA;
                    if (!packAOnce || jc == columnStart)
                        GemmPacking.PackA<T, TKernel>(transA, ref a, lda, ic, mcBlock, pc, kcBlock, ref aBlock);

                    for (int ir = 0; ir < mcBlock; ir += mr)
                    {
                        int rows = Math.Min(mr, mcBlock - ir);
                        ref T aPanel = ref Unsafe.Add(ref aBlock, (nint)ir * kcBlock);
                        ref T cRow = ref Unsafe.Add(ref c, (nint)(ic + ir) * ldc + jc);
                        for (int jr = 0; jr < ncBlock; jr += nr)
                        {
                            int cols = Math.Min(nr, ncBlock - jr);
                            ref T bPanel = ref Unsafe.Add(ref packedB, (nint)jr * kcBlock);
                            ref T cTile = ref Unsafe.Add(ref cRow, jr);
                            int width = GemmPacking.PanelWidth<T, TKernel>(cols);
                            if (width < nr)
                            {
                                // The narrow last panel: only the registers its columns need.
                                int vectors = width / TKernel.Lanes;
                                if (rows == mr && cols == width)
                                {
                                    TKernel.RunNarrow(vectors, kcBlock, ref aPanel, ref bPanel, ref cTile, ldc, overwrite);
                                }
                                else
                                {
                                    TKernel.RunNarrow(vectors, kcBlock, ref aPanel, ref bPanel, ref scratch, width, overwrite: true);
                                    CopyTile(ref scratch, width, ref cTile, ldc, rows, cols, overwrite);
                                }
                            }
                            else if (rows == mr && cols == nr)
                            {
                                TKernel.Run(kcBlock, ref aPanel, ref bPanel, ref cTile, ldc, overwrite);
                            }
                            else
                            {
                                TKernel.Run(kcBlock, ref aPanel, ref bPanel, ref scratch, nr, overwrite: true);
                                CopyTile(ref scratch, nr, ref cTile, ldc, rows, cols, overwrite);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// The depth slice kc for a product of depth <paramref name="k"/>: k cut into the fewest equal slices of at
    /// most 256 (k = 800 -> 4 x 200). Part of the canonical order: the same on every width and machine.
    /// </summary>
    internal static int DepthSlice(int k) => EqualBlock(k, MaxDepth, 1);

    /// <summary>
    /// Splits <paramref name="total"/> into the fewest blocks of at most <paramref name="max"/>, all of
    /// equal size rounded up to a multiple of <paramref name="multiple"/> (only the last may be smaller).
    /// </summary>
    internal static int EqualBlock(int total, int max, int multiple)
    {
        int blocks = (total + max - 1) / max;
        int size = (total + blocks - 1) / blocks;
        return (size + multiple - 1) / multiple * multiple;
    }

    /// <summary>Writes (<paramref name="overwrite"/>) or adds the top-left rows x columns of a scratch tile into C.</summary>
    internal static void CopyTile<T>(ref T tile, nint tileStride, ref T c, nint ldc, int rows, int columns, bool overwrite)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
        {
            ref T source = ref Unsafe.Add(ref tile, r * tileStride);
            ref T destination = ref Unsafe.Add(ref c, r * ldc);
            for (int j = 0; j < columns; j++)
            {
                Unsafe.Add(ref destination, j) = overwrite
                    ? Unsafe.Add(ref source, j)
                    : Unsafe.Add(ref destination, j) + Unsafe.Add(ref source, j);
            }
        }
    }
}

/// <summary>
/// Fills Gemm's packed B panels (the layout at the top of GemmPacking.cs) with op(B)[p0 .. p0+depth, j0 .. j0+columns] of a
/// matrix that may exist only implicitly (<see cref="Im2ColPanels{T}"/>).
/// </summary>
internal interface IGemmBPacker<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Packs the block for <typeparamref name="TKernel"/>'s panel width into <paramref name="packed"/>.</summary>
    void Pack<TKernel>(int p0, int depth, int j0, int columns, ref T packed) where TKernel : struct, IGemmMicroKernel<T>;
}

/// <summary>op(B) stored in memory, row-major (B, or Bᵀ when transposed): GemmPacking.PackB.</summary>
internal readonly ref struct StoredB<T> : IGemmBPacker<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ref T b;
    private readonly nint ldb;
    private readonly bool transB;

    public StoredB(bool transB, ref T b, nint ldb)
    {
        this.transB = transB;
        this.b = ref b;
        this.ldb = ldb;
    }

    public void Pack<TKernel>(int p0, int depth, int j0, int columns, ref T packed) where TKernel : struct, IGemmMicroKernel<T> =>
        GemmPacking.PackB<T, TKernel>(transB, ref b, ldb, p0, depth, j0, columns, ref packed);
}
