// A dense layer's backward pass for one sample with plain SGD's update folded in (the seeds' mode), one
// streaming pass over the weight W [m x d] instead of materialising ∂L/∂W (fc1's 12.8 MB) and reading it
// back in the guard and the optimiser:
//
//   input gradient   dx = δ W        Gemm's canonical order for a 1 x d x m product: the sum over the rows p of W
//                                    cut into slices of Gemm.DepthSlice(m), each slice summed from zero with one
//                                    FUSED multiply-add per row in increasing p, the first slice stored to dx and
//                                    each later slice added (what ParallelGemm computes for the unfused pass).
//   weight update    g = 0 + fma(δ[p], x[c], 0)              the gradient exactly as the unfused pass writes it
//                                                            (the one-sample Gemm into a zeroed ∂W);
//                    g = w·λ + g      (only with decay λ)    Optimizer.Step's weight decay (product rounded, then sum);
//                    w = g·r + w      (r = -η)               Sgd's update (ElementwiseKernels.MultiplyAdd: product
//                                                            rounded, then sum).
//
// Row p of W is read for dx before it is updated (the input gradient needs the old weights). Every column is
// computed on its own, lane by lane, with the same IEEE operations on every width (FMA is fused everywhere, the
// scalar width included: VectorWidth.cs), so the bits depend neither on the vector width nor on how the columns
// are split over threads. DenseReference is the same arithmetic as a plain loop; the tests hold this kernel and
// the unfused backward + optimiser to it, bit for bit.
//
// On several threads, when W has at least two depth slices of rows (fc1: 1,024 rows, four slices of 256), the work is
// cut by rows instead of columns: one partition per slice, with fixed owners (Parallelism.ForOwned), so each thread
// updates the rows that it also multiplies in the forward pass (SampleProduct.MultiplyOwned cuts them the same way).
// A slice's partition writes its sum from zero for every column (the first slice straight into dx, later ones into
// scratch), and dx then adds the later slices in increasing order: the same operations in the same order as the
// column split, so the same bits. W then stays in the cache of the core that owns its rows; with a column split every
// row was written by one core and read by another on the next pass, which on two cores without a shared L3 made a
// one-sample step about five times slower (PERFORMANCE.md).
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>Plain SGD's step: w ← w + r·(g + λ·w) with r = -η (as <c>Sgd</c> and <c>Optimizer.Step</c> compute it).</summary>
/// <param name="Rate">The learning rate negated, in T (what <c>Sgd</c> multiplies the gradient by).</param>
/// <param name="Decay">Weight decay λ in T (used only when <paramref name="Decayed"/>).</param>
/// <param name="Decayed">True when the optimiser's weight decay is not zero.</param>
internal readonly record struct SgdStep<T>(T Rate, T Decay, bool Decayed) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>The dense layer's one-sample backward pass with plain SGD's update folded in (see the top of the file).</summary>
internal static class FusedSgdKernels
{
    /// <summary>Columns handled at a time (whole rows of fc1's 3136): the slice partial sums of dx for them stay in L1 or L2 (16 KB float, 32 KB double).</summary>
    private const int ChunkColumns = 4096;

    /// <summary>
    /// Over all columns of <paramref name="w"/> [<paramref name="m"/> x <paramref name="d"/>], on up to
    /// <see cref="Parallelism.ThreadCount"/> threads (column ranges; the bits do not depend on the split):
    /// writes <paramref name="dx"/> = δ W (unless it is empty) and, when <paramref name="update"/> is set,
    /// applies <paramref name="step"/> with the gradient δ ⊗ x to each row after its use.
    /// </summary>
    public static void Dense<T>(Span<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx, bool update, SgdStep<T> step)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(w, m, d, dy, x, dx);
        if (RowSlices(m) is > 1 and var slices)
        {
            int kc = Gemm.DepthSlice(m);
            var rows = new RowSliceWork<T>
            {
                W = w, M = m, D = d, Dy = dy, X = x, Dx = dx, Update = update, Step = step, SliceRows = kc, Sums = SliceSums<T>(dx, slices, d),
            };
            Parallelism.ForOwned(slices, ref rows);
            AddLaterSlices<T>(dx, rows.Sums, slices, d);
            return;
        }
        int parts = Parallelism.ElementParts(m * d);
        var work = new DenseWork<T> { W = w, M = m, D = d, Dy = dy, X = x, Dx = dx, Update = update, Step = step, Parts = parts };
        Parallelism.For(parts, ref work);
    }

    /// <summary>
    /// The same one-sample pass without an update, for an optimiser that updates later (Adam, momentum, or a guarded or
    /// hooked step that cannot fold plain SGD): writes ∂W = δ ⊗ x into <paramref name="gradient"/> as the one-sample Gemm
    /// does (fma(δ[p], x[c], 0), stored, or added to ∂W when <paramref name="accumulate"/>) and dx = δ W (unless it is
    /// empty), cut by W's depth slices with fixed owners as <see cref="Dense{T}"/> cuts them, so that each thread writes
    /// the gradient rows of the weight rows it owns. Needs <see cref="RowSlices"/>(<paramref name="m"/>) &gt; 1.
    /// </summary>
    public static void Gradient<T>(ReadOnlySpan<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx, Span<T> gradient, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m <= 0 || d <= 0) throw new ArgumentOutOfRangeException(nameof(m), $"a {m} x {d} weight is empty");
        if (w.Length < (long)m * d || gradient.Length < (long)m * d)
            throw new ArgumentException($"the weight has {w.Length} values and its gradient {gradient.Length}; {m} x {d} needs {(long)m * d}");
        if (dy.Length < m || x.Length < d) throw new ArgumentException($"δ has {dy.Length} values and x {x.Length}; a {m} x {d} weight needs {m} and {d}");
        if (!dx.IsEmpty && dx.Length < d) throw new ArgumentException($"dx has {dx.Length} values, the weight's input {d}");
        int slices = RowSlices(m);
        if (slices < 2) throw new InvalidOperationException($"a {m}-row weight on {Parallelism.ThreadCount} thread(s) is not cut by rows");
        int kc = Gemm.DepthSlice(m);
        var work = new GradientSliceWork<T>
        {
            W = w, G = gradient, M = m, D = d, Dy = dy, X = x, Dx = dx, Accumulate = accumulate, SliceRows = kc, Sums = SliceSums<T>(dx, slices, d),
        };
        Parallelism.ForOwned(slices, ref work);
        AddLaterSlices<T>(dx, work.Sums, slices, d);
    }

    /// <summary>Scratch for the sums of every slice but the first (the first goes straight into dx); none without dx.</summary>
    private static Span<T> SliceSums<T>(Span<T> dx, int slices, int d) where T : unmanaged, IFloatingPointIeee754<T> =>
        dx.IsEmpty ? default : ThreadScratch<T>.Get(ScratchSlot.SliceSums, (slices - 1) * d);

    /// <summary>Where slice <paramref name="partition"/>'s sum over its rows goes (with its first row and row count): dx for the first slice, its part of <paramref name="sums"/> for a later one, nowhere without dx.</summary>
    private static Span<T> Slice<T>(int partition, int sliceRows, int m, int d, Span<T> dx, Span<T> sums, out int first, out int rows)
    {
        first = partition * sliceRows;
        rows = Math.Min(sliceRows, m - first);
        return dx.IsEmpty ? default : partition == 0 ? dx[..d] : sums.Slice((partition - 1) * d, d);
    }

    /// <summary>dx = slice 0's sum, then + each later slice's, in increasing order (as the column split adds them).</summary>
    private static void AddLaterSlices<T>(Span<T> dx, ReadOnlySpan<T> sums, int slices, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (dx.IsEmpty) return;
        for (int k = 1; k < slices; k++) TensorPrimitives.Add(dx[..d], sums.Slice((k - 1) * d, d), dx[..d]);
    }

    /// <summary>The plain loops <see cref="Gradient{T}"/> is held to: Gemm's one-sample ∂W and the reference's dx.</summary>
    public static void GradientReference<T>(ReadOnlySpan<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx, Span<T> gradient, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var copy = w[..(m * d)].ToArray();
        DenseReference<T>(copy, m, d, dy, x, dx, update: false, default);
        for (int p = 0; p < m; p++)
        {
            for (int c = 0; c < d; c++)
            {
                T product = T.FusedMultiplyAdd(dy[p], x[c], T.Zero);
                gradient[p * d + c] = accumulate ? gradient[p * d + c] + product : product;
            }
        }
    }

    private ref struct GradientSliceWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public ReadOnlySpan<T> W, Dy, X;
        public Span<T> G, Dx, Sums;
        public int M, D, SliceRows;
        public bool Accumulate;

        public readonly void Run(int partition)
        {
            Span<T> sum = Slice<T>(partition, SliceRows, M, D, Dx, Sums, out int first, out int rows);
            ReadOnlySpan<T> w = W.Slice(first * D, rows * D), dy = Dy.Slice(first, rows);
            Span<T> g = G.Slice(first * D, rows * D);
            int whole = 0;
            if (Width512<T>.IsAccelerated) whole = GradientRows<T, Vector512<T>, Width512<T>>(w, g, rows, D, dy, X, sum, Accumulate, 0);
            else if (Width256<T>.IsAccelerated) whole = GradientRows<T, Vector256<T>, Width256<T>>(w, g, rows, D, dy, X, sum, Accumulate, 0);
            else if (Width128<T>.IsAccelerated) whole = GradientRows<T, Vector128<T>, Width128<T>>(w, g, rows, D, dy, X, sum, Accumulate, 0);
            if (whole < D) GradientRows<T, T, WidthScalar<T>>(w, g, rows, D, dy, X, sum, Accumulate, whole);
        }
    }

    /// <summary>Columns [c0, d / w·w) of one slice's rows (at most Gemm's depth: one sum from zero) at width <typeparamref name="TWidth"/>; returns where it stopped.</summary>
    private static int GradientRows<T, TVector, TWidth>(ReadOnlySpan<T> w, Span<T> g, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> sum, bool accumulate, int c0)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        bool input = !sum.IsEmpty;
        return (input, accumulate) switch
        {
            (true, true) => GradientRows<T, TVector, TWidth, Yes, Yes>(w, g, m, d, dy, x, sum, c0),
            (true, false) => GradientRows<T, TVector, TWidth, Yes, No>(w, g, m, d, dy, x, sum, c0),
            (false, true) => GradientRows<T, TVector, TWidth, No, Yes>(w, g, m, d, dy, x, sum, c0),
            _ => GradientRows<T, TVector, TWidth, No, No>(w, g, m, d, dy, x, sum, c0),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int GradientRows<T, TVector, TWidth, TInput, TAccumulate>(ReadOnlySpan<T> w, Span<T> g, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> sum, int c0)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
        where TInput : struct, IFlag
        where TAccumulate : struct, IFlag
    {
        int lanes = TWidth.Count, end = c0 + (d - c0) / lanes * lanes;
        if (end == c0) return c0;
        ref T wr = ref MemoryMarshal.GetReference(w);
        ref T gr = ref MemoryMarshal.GetReference(g);
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T sr = ref MemoryMarshal.GetReference(sum);
        TVector zero = TWidth.Zero;
        for (int p = 0; p < m; p++)
        {
            nint row = (nint)p * d;
            TVector delta = TWidth.Broadcast(dy[p]);
            for (int c = c0; c < end; c += lanes)
            {
                if (TInput.On)
                {
                    // dx's slice sum from zero, one fused multiply-add per row in increasing p (as Gemm sums a depth slice).
                    TVector s = p == 0 ? zero : TWidth.Load(in Unsafe.Add(ref sr, c));
                    TWidth.Store(TWidth.MultiplyAdd(delta, TWidth.Load(in Unsafe.Add(ref wr, row + c)), s), ref Unsafe.Add(ref sr, c));
                }
                // ∂W as the one-sample Gemm writes it: its depth-1 sum from zero, stored or added to ∂W.
                TVector product = TWidth.MultiplyAdd(delta, TWidth.Load(in Unsafe.Add(ref xr, c)), zero);
                ref T gc = ref Unsafe.Add(ref gr, row + c);
                TWidth.Store(TAccumulate.On ? TWidth.Add(TWidth.Load(in gc), product) : product, ref gc);
            }
        }
        return end;
    }

    /// <summary>
    /// The partitions a one-sample pass over a weight of <paramref name="m"/> rows is cut into by rows (its depth slices,
    /// Gemm.DepthSlice), or 1 when it is cut by columns instead: on one thread, or when W has a single slice.
    /// <see cref="SampleProduct.MultiplyOwned{T}"/> cuts the forward product by the same rows.
    /// </summary>
    internal static int RowSlices(int m)
    {
        if (Parallelism.ThreadCount == 1) return 1;
        int kc = Gemm.DepthSlice(m);
        return (m + kc - 1) / kc;
    }

    /// <summary>The plain loop <see cref="Dense{T}"/> is held to.</summary>
    public static void DenseReference<T>(Span<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx, bool update, SgdStep<T> step)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(w, m, d, dy, x, dx);
        int kc = Gemm.DepthSlice(m);
        if (!dx.IsEmpty)
        {
            for (int c = 0; c < d; c++)
            {
                for (int pc = 0; pc < m; pc += kc)
                {
                    T sum = T.Zero;
                    for (int p = pc; p < Math.Min(m, pc + kc); p++) sum = T.FusedMultiplyAdd(dy[p], w[p * d + c], sum);
                    dx[c] = pc == 0 ? sum : dx[c] + sum;
                }
            }
        }
        if (!update) return;
        for (int p = 0; p < m; p++)
        {
            for (int c = 0; c < d; c++)
            {
                T g = T.Zero + T.FusedMultiplyAdd(dy[p], x[c], T.Zero);
                T old = w[p * d + c];
                if (step.Decayed)
                {
                    T decay = old * step.Decay;
                    g = decay + g;
                }
                T change = g * step.Rate;
                w[p * d + c] = change + old;
            }
        }
    }

    /// <summary>A bias's update from its one-sample gradient δ: g = 0 + δ, b = g·r + b (no weight decay on biases).</summary>
    public static void Bias<T>(Span<T> b, ReadOnlySpan<T> dy, T rate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (dy.Length < b.Length) throw new ArgumentException($"bias update: δ has {dy.Length} values, the bias {b.Length}");
        for (int i = 0; i < b.Length; i++)
        {
            T g = T.Zero + dy[i];
            T change = g * rate;
            b[i] = change + b[i];
        }
    }

    private static void Check<T>(Span<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx)
    {
        if (m <= 0 || d <= 0) throw new ArgumentOutOfRangeException(nameof(m), $"a {m} x {d} weight is empty");
        if (w.Length < (long)m * d) throw new ArgumentException($"the weight has {w.Length} values, {m} x {d} needs {(long)m * d}");
        if (dy.Length < m || x.Length < d) throw new ArgumentException($"δ has {dy.Length} values and x {x.Length}; a {m} x {d} weight needs {m} and {d}");
        if (!dx.IsEmpty && dx.Length < d) throw new ArgumentException($"dx has {dx.Length} values, the weight's input {d}");
    }

    private ref struct DenseWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Span<T> W, Dx;
        public ReadOnlySpan<T> Dy, X;
        public int M, D, Parts;
        public bool Update;
        public SgdStep<T> Step;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.AlignedRange(D, Parts, partition, 16);
            Span<T> partials = stackalloc T[ChunkColumns];
            for (int c0 = start; c0 < start + count; c0 += ChunkColumns)
            {
                int len = Math.Min(ChunkColumns, start + count - c0);
                Columns(W, M, D, Dy, X, Dx, Update, Step, c0, len, partials);
            }
        }
    }

    /// <summary>One depth slice of W's rows per partition, every column: its sum from zero into dx (slice 0) or into its part of Sums.</summary>
    private ref struct RowSliceWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Span<T> W, Dx, Sums;
        public ReadOnlySpan<T> Dy, X;
        public int M, D, SliceRows;
        public bool Update;
        public SgdStep<T> Step;

        public readonly void Run(int partition)
        {
            // A slice of at most Gemm's depth: the column kernel sums it as one slice, from zero.
            Span<T> sum = Slice<T>(partition, SliceRows, M, D, Dx, Sums, out int first, out int rows);
            Span<T> w = W.Slice(first * D, rows * D);
            ReadOnlySpan<T> dy = Dy.Slice(first, rows);
            Span<T> partials = stackalloc T[ChunkColumns]; // unused: one slice needs no partial sums
            for (int c0 = 0; c0 < D; c0 += ChunkColumns)
            {
                int len = Math.Min(ChunkColumns, D - c0);
                Columns(w, rows, D, dy, X, sum, Update, Step, c0, len, partials);
            }
        }
    }

    /// <summary>Columns [c0, c0 + count) at the widest accelerated width, the last few at the scalar width.</summary>
    private static void Columns<T>(Span<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx, bool update, SgdStep<T> step, int c0, int count, Span<T> partials)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int whole = 0;
        if (Width512<T>.IsAccelerated) whole = Rows<T, Vector512<T>, Width512<T>>(w, m, d, dy, x, dx, update, step, c0, count, partials);
        else if (Width256<T>.IsAccelerated) whole = Rows<T, Vector256<T>, Width256<T>>(w, m, d, dy, x, dx, update, step, c0, count, partials);
        else if (Width128<T>.IsAccelerated) whole = Rows<T, Vector128<T>, Width128<T>>(w, m, d, dy, x, dx, update, step, c0, count, partials);
        if (whole < count) Rows<T, T, WidthScalar<T>>(w, m, d, dy, x, dx, update, step, c0 + whole, count - whole, partials[whole..]);
    }

    /// <summary>A compile-time flag: the JIT compiles each instantiation with the branches on it removed.</summary>
    private interface IFlag
    {
        static abstract bool On { get; }
    }

    private readonly struct Yes : IFlag
    {
        public static bool On => true;
    }

    private readonly struct No : IFlag
    {
        public static bool On => false;
    }

    /// <summary>Columns [c0, c0 + count / w·w) of every row at width <typeparamref name="TWidth"/>; returns how many it did.</summary>
    private static int Rows<T, TVector, TWidth>(Span<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx, bool update, SgdStep<T> step, int c0, int count, Span<T> partials)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        bool input = !dx.IsEmpty;
        if (input && update)
            return step.Decayed
                ? Rows<T, TVector, TWidth, Yes, Yes, Yes>(w, m, d, dy, x, dx, step, c0, count, partials)
                : Rows<T, TVector, TWidth, Yes, Yes, No>(w, m, d, dy, x, dx, step, c0, count, partials);
        if (update)
            return step.Decayed
                ? Rows<T, TVector, TWidth, No, Yes, Yes>(w, m, d, dy, x, dx, step, c0, count, partials)
                : Rows<T, TVector, TWidth, No, Yes, No>(w, m, d, dy, x, dx, step, c0, count, partials);
        return input ? Rows<T, TVector, TWidth, Yes, No, No>(w, m, d, dy, x, dx, step, c0, count, partials) : count - count % TWidth.Count;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Rows<T, TVector, TWidth, TInput, TUpdate, TDecay>(Span<T> w, int m, int d, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dx, SgdStep<T> step, int c0, int count, Span<T> partials)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
        where TInput : struct, IFlag
        where TUpdate : struct, IFlag
        where TDecay : struct, IFlag
    {
        int lanes = TWidth.Count, end = count - count % lanes;
        if (end == 0) return 0;
        int kc = TInput.On ? Gemm.DepthSlice(m) : m;
        ref T wr = ref MemoryMarshal.GetReference(w);
        ref T xr = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), c0);
        ref T pr = ref MemoryMarshal.GetReference(partials);
        ref T dxr = ref TInput.On ? ref Unsafe.Add(ref MemoryMarshal.GetReference(dx), c0) : ref pr;
        TVector rate = TWidth.Broadcast(step.Rate), decay = TWidth.Broadcast(step.Decay), zero = TWidth.Zero;
        for (int pc = 0; pc < m; pc += kc)
        {
            // The slice's sum from zero: the first slice straight into dx, later ones into the partials, then added.
            ref T sum = ref pc == 0 ? ref dxr : ref pr;
            int last = Math.Min(m, pc + kc);
            for (int p = pc; p < last; p++)
            {
                ref T row = ref Unsafe.Add(ref wr, (nint)p * d + c0);
                TVector delta = TWidth.Broadcast(dy[p]);
                bool first = p == pc;
                for (int c = 0; c < end; c += lanes)
                {
                    TVector old = TWidth.Load(in Unsafe.Add(ref row, c));
                    if (TInput.On)
                    {
                        TVector s = first ? zero : TWidth.Load(in Unsafe.Add(ref sum, c));
                        TWidth.Store(TWidth.MultiplyAdd(delta, old, s), ref Unsafe.Add(ref sum, c));
                    }
                    if (TUpdate.On)
                    {
                        TVector g = TWidth.Add(zero, TWidth.MultiplyAdd(delta, TWidth.Load(in Unsafe.Add(ref xr, c)), zero));
                        if (TDecay.On) g = TWidth.Add(TWidth.Multiply(old, decay), g);
                        TWidth.Store(TWidth.Add(TWidth.Multiply(g, rate), old), ref Unsafe.Add(ref row, c));
                    }
                }
            }
            if (TInput.On && pc > 0)
            {
                for (int c = 0; c < end; c += lanes)
                    TWidth.Store(TWidth.Add(TWidth.Load(in Unsafe.Add(ref dxr, c)), TWidth.Load(in Unsafe.Add(ref pr, c))), ref Unsafe.Add(ref dxr, c));
            }
        }
        return end;
    }
}
