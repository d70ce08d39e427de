// Horizontal reductions (a span summed to one value) in the canonical order of docs/DETERMINISM.md,
// the same bits on every SIMD width:
//
//   16 interleaved partial sums: lane j (0..15) starts at +0 and takes the elements i = j, j + 16,
//   j + 32, ... (i < n) in increasing i, one operation each (an add, or a FUSED multiply-add for the
//   products); then a fixed pairwise tree: lane j += lane j + 8 (j < 8), lane j += lane j + 4 (j < 4),
//   lane j += lane j + 2 (j < 2), result = lane 0 + lane 1.
//
// The 16 lanes are one Vector512<float>, two Vector256<float>, four Vector128<float> or 16 scalars
// (doubles: two Vector512, four Vector256, eight Vector128, 16 scalars), so each width runs the same
// lanes, only packed differently: register r holds lanes r·w .. r·w + w - 1 (w lanes per register).
// The tree's first levels add register r + regs/2 onto register r while there are several registers,
// then IVectorWidth.FoldSum adds the upper half of the last register onto its lower half: both are
// "lane j + lane j + half", the same tree. The last, partial block of 16 is masked: a lane whose element
// lies past the end keeps its sum unchanged (nothing is added to it, not even a zero).
//
// The step of each reduction (what one element adds to its lane):
//   Sum                       s + x
//   SumOfSquares              fma(x, x, s)
//   Dot                       fma(x, y, s)
//   SumOfSquaredDeviations    fma(x - μ, x - μ, s)
//   DotWithDeviations         fma(y, x - μ, s)
// Each has a plain reference (16 scalar lanes in an array, then the tree) that the tests hold it to, bit
// for bit, on every length from 0 to 40 and longer odd ones.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>Sums, sums of squares and dot products in the canonical 16-lane order, the same bits on every width.</summary>
internal static class Reductions
{
    /// <summary>Partial sums of the canonical order.</summary>
    public const int Lanes = 16;

    /// <summary>Σ x.</summary>
    public static T Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Reduce<T, SumStep<T>>(x, x, T.Zero);

    /// <summary>Σ x² (fused: s = fma(x, x, s)).</summary>
    public static T SumOfSquares<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Reduce<T, SquareStep<T>>(x, x, T.Zero);

    /// <summary>Σ x·y (fused: s = fma(x, y, s)); <paramref name="y"/> must be as long as <paramref name="x"/>.</summary>
    public static T Dot<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLengths(x, y);
        return Reduce<T, DotStep<T>>(x, y, T.Zero);
    }

    /// <summary>Σ (x - μ)² (s = fma(d, d, s) with d = x - μ).</summary>
    public static T SumOfSquaredDeviations<T>(ReadOnlySpan<T> x, T mu) where T : unmanaged, IFloatingPointIeee754<T> =>
        Reduce<T, DeviationSquareStep<T>>(x, x, mu);

    /// <summary>Σ y·(x - μ) (s = fma(y, x - μ, s)); <paramref name="y"/> must be as long as <paramref name="x"/>.</summary>
    public static T DotWithDeviations<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> x, T mu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLengths(x, y);
        return Reduce<T, DeviationDotStep<T>>(x, y, mu);
    }

    /// <summary>
    /// Two reductions in one pass, each exactly what its own call gives (the same lanes, steps and tree; only their
    /// chains run side by side, which hides the add latency of a single accumulator): Σ over the A spans with
    /// <typeparamref name="TStepA"/> and Σ over the B spans with <typeparamref name="TStepB"/> (x, y, μ as in the single
    /// reductions: <see cref="SumStep{T}"/> reads x; <see cref="DeviationSquareStep{T}"/> x and μ;
    /// <see cref="DeviationDotStep{T}"/> is fma(y, x - μ, s)). The two may be the same data (batch norm's Σδ and
    /// Σδ(x - μ) of one plane) or two planes (two channels' sums); the A spans and the B spans must be as long as each other.
    /// </summary>
    public static (T A, T B) Pair<T, TStepA, TStepB>(ReadOnlySpan<T> xa, ReadOnlySpan<T> ya, T mua, ReadOnlySpan<T> xb, ReadOnlySpan<T> yb, T mub)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TStepA : struct, IReductionStep<T>
        where TStepB : struct, IReductionStep<T>
    {
        int n = xa.Length;
        if (ya.Length != n || xb.Length != n || yb.Length != n) throw new ArgumentException($"a paired reduction needs four spans of one length; got {xa.Length}, {ya.Length}, {xb.Length} and {yb.Length}");
        // Widths of at most two registers per 16 lanes run the pair; the narrower ones (whose 4 to 16 registers
        // already hide the latency) run the two reductions one after the other: the same bits either way.
        if (n > 1)
        {
            if (Width512<T>.IsAccelerated && Lanes / Width512<T>.Count <= 2) return Pair<T, TStepA, TStepB, Vector512<T>, Width512<T>>(xa, ya, mua, xb, yb, mub);
            if (!Width512<T>.IsAccelerated && Width256<T>.IsAccelerated && Lanes / Width256<T>.Count <= 2) return Pair<T, TStepA, TStepB, Vector256<T>, Width256<T>>(xa, ya, mua, xb, yb, mub);
        }
        return (Reduce<T, TStepA>(xa, ya, mua), Reduce<T, TStepB>(xb, yb, mub));
    }

    /// <summary>The two reductions of <see cref="Pair{T, TStepA, TStepB}"/> with one or two registers per 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (T A, T B) Pair<T, TStepA, TStepB, TVector, TWidth>(ReadOnlySpan<T> xa, ReadOnlySpan<T> ya, T mua, ReadOnlySpan<T> xb, ReadOnlySpan<T> yb, T mub)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TStepA : struct, IReductionStep<T>
        where TStepB : struct, IReductionStep<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int w = TWidth.Count, regs = Lanes / w, n = xa.Length, whole = n - n % Lanes;
        TVector ma = TWidth.Broadcast(mua), mb = TWidth.Broadcast(mub);
        TVector a0 = TWidth.Zero, a1 = TWidth.Zero, b0 = TWidth.Zero, b1 = TWidth.Zero;
        ref T xar = ref MemoryMarshal.GetReference(xa), yar = ref MemoryMarshal.GetReference(ya);
        ref T xbr = ref MemoryMarshal.GetReference(xb), ybr = ref MemoryMarshal.GetReference(yb);
        for (int i = 0; i < whole; i += Lanes)
        {
            ref T xai = ref Unsafe.Add(ref xar, i), yai = ref Unsafe.Add(ref yar, i);
            ref T xbi = ref Unsafe.Add(ref xbr, i), ybi = ref Unsafe.Add(ref ybr, i);
            a0 = TStepA.Step<TVector, TWidth>(a0, TWidth.Load(ref xai), TWidth.Load(ref yai), ma);
            b0 = TStepB.Step<TVector, TWidth>(b0, TWidth.Load(ref xbi), TWidth.Load(ref ybi), mb);
            if (regs > 1)
            {
                a1 = TStepA.Step<TVector, TWidth>(a1, TWidth.Load(ref Unsafe.Add(ref xai, w)), TWidth.Load(ref Unsafe.Add(ref yai, w)), ma);
                b1 = TStepB.Step<TVector, TWidth>(b1, TWidth.Load(ref Unsafe.Add(ref xbi, w)), TWidth.Load(ref Unsafe.Add(ref ybi, w)), mb);
            }
        }
        if (whole < n)
        {
            int rest = n - whole;
            Span<T> bxa = stackalloc T[Lanes], bya = stackalloc T[Lanes], bxb = stackalloc T[Lanes], byb = stackalloc T[Lanes];
            bxa.Clear();
            bya.Clear();
            bxb.Clear();
            byb.Clear();
            xa[whole..].CopyTo(bxa);
            ya[whole..].CopyTo(bya);
            xb[whole..].CopyTo(bxb);
            yb[whole..].CopyTo(byb);
            ref T xai = ref MemoryMarshal.GetReference(bxa), yai = ref MemoryMarshal.GetReference(bya);
            ref T xbi = ref MemoryMarshal.GetReference(bxb), ybi = ref MemoryMarshal.GetReference(byb);
            a0 = Masked<T, TStepA, TVector, TWidth>(a0, ref xai, ref yai, ma, rest, 0);
            b0 = Masked<T, TStepB, TVector, TWidth>(b0, ref xbi, ref ybi, mb, rest, 0);
            if (regs > 1)
            {
                a1 = Masked<T, TStepA, TVector, TWidth>(a1, ref xai, ref yai, ma, rest, 1);
                b1 = Masked<T, TStepB, TVector, TWidth>(b1, ref xbi, ref ybi, mb, rest, 1);
            }
        }
        if (regs > 1)
        {
            a0 = TWidth.Add(a0, a1);
            b0 = TWidth.Add(b0, b1);
        }
        return (TWidth.FoldSum(a0), TWidth.FoldSum(b0));
    }

    /// <summary>The plain loops <see cref="Pair{T, TStepA, TStepB}"/> is held to: the two reductions' references.</summary>
    public static (T A, T B) PairReference<T, TStepA, TStepB>(ReadOnlySpan<T> xa, ReadOnlySpan<T> ya, T mua, ReadOnlySpan<T> xb, ReadOnlySpan<T> yb, T mub)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TStepA : struct, IReductionStep<T>
        where TStepB : struct, IReductionStep<T> =>
        (Reference<T, TStepA>(xa, ya, mua), Reference<T, TStepB>(xb, yb, mub));

    /// <summary>The plain loop <see cref="Sum{T}"/> is held to.</summary>
    public static T SumReference<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Reference<T, SumStep<T>>(x, x, T.Zero);

    /// <summary>The plain loop <see cref="SumOfSquares{T}"/> is held to.</summary>
    public static T SumOfSquaresReference<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Reference<T, SquareStep<T>>(x, x, T.Zero);

    /// <summary>The plain loop <see cref="Dot{T}"/> is held to.</summary>
    public static T DotReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Reference<T, DotStep<T>>(x, y, T.Zero);

    /// <summary>The plain loop <see cref="SumOfSquaredDeviations{T}"/> is held to.</summary>
    public static T SumOfSquaredDeviationsReference<T>(ReadOnlySpan<T> x, T mu) where T : unmanaged, IFloatingPointIeee754<T> =>
        Reference<T, DeviationSquareStep<T>>(x, x, mu);

    /// <summary>The plain loop <see cref="DotWithDeviations{T}"/> is held to.</summary>
    public static T DotWithDeviationsReference<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> x, T mu) where T : unmanaged, IFloatingPointIeee754<T> =>
        Reference<T, DeviationDotStep<T>>(x, y, mu);

    private static void CheckLengths<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"the spans have {x.Length} and {y.Length} values; a dot product needs equal lengths");
    }

    /// <summary>The canonical order as a plain loop: 16 scalar lanes, element i into lane i mod 16, then the tree.</summary>
    private static T Reference<T, TStep>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, T mu)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TStep : struct, IReductionStep<T>
    {
        Span<T> lanes = stackalloc T[Lanes];
        lanes.Clear();
        for (int i = 0; i < x.Length; i++)
            lanes[i % Lanes] = TStep.Step<T, WidthScalar<T>>(lanes[i % Lanes], x[i], y[i], mu);
        for (int half = Lanes / 2; half >= 1; half /= 2)
            for (int j = 0; j < half; j++) lanes[j] += lanes[j + half];
        return lanes[0];
    }

    /// <summary>
    /// The reduction with step <typeparamref name="TStep"/> (x, y, μ as in the named ones; y as long as x), on the widest
    /// accelerated width (float and double; other types take the scalar lanes).
    /// </summary>
    internal static T Reduce<T, TStep>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, T mu)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TStep : struct, IReductionStep<T>
    {
        if (Width512<T>.IsAccelerated) return Reduce<T, TStep, Vector512<T>, Width512<T>>(x, y, mu);
        if (Width256<T>.IsAccelerated) return Reduce<T, TStep, Vector256<T>, Width256<T>>(x, y, mu);
        if (Width128<T>.IsAccelerated) return Reduce<T, TStep, Vector128<T>, Width128<T>>(x, y, mu);
        return Reduce<T, TStep, T, WidthScalar<T>>(x, y, mu);
    }

    /// <summary>
    /// The 16 lanes in 16 / w registers a0 .. a15 (only the first 16 / w are used; the JIT drops the rest,
    /// since w is a constant of each instantiation).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static T Reduce<T, TStep, TVector, TWidth>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, T mu)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TStep : struct, IReductionStep<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int w = TWidth.Count, regs = Lanes / w, n = x.Length, whole = n - n % Lanes;
        // One element (a batch-norm channel of a dense layer, per sample): lane 0 is step(+0, x) and the tree
        // adds +0 to it four times, which only turns -0 into +0. The same bits without the loop and the mask.
        if (n == 1) return TStep.Step<T, WidthScalar<T>>(T.Zero, x[0], y[0], mu) + T.Zero;
        TVector m = TWidth.Broadcast(mu);
        TVector a0 = TWidth.Zero, a1 = TWidth.Zero, a2 = TWidth.Zero, a3 = TWidth.Zero;
        TVector a4 = TWidth.Zero, a5 = TWidth.Zero, a6 = TWidth.Zero, a7 = TWidth.Zero;
        TVector a8 = TWidth.Zero, a9 = TWidth.Zero, a10 = TWidth.Zero, a11 = TWidth.Zero;
        TVector a12 = TWidth.Zero, a13 = TWidth.Zero, a14 = TWidth.Zero, a15 = TWidth.Zero;
        ref T xr = ref MemoryMarshal.GetReference(x), yr = ref MemoryMarshal.GetReference(y);
        for (int i = 0; i < whole; i += Lanes)
        {
            ref T xi = ref Unsafe.Add(ref xr, i), yi = ref Unsafe.Add(ref yr, i);
            a0 = TStep.Step<TVector, TWidth>(a0, TWidth.Load(ref xi), TWidth.Load(ref yi), m);
            if (regs > 1)
                a1 = TStep.Step<TVector, TWidth>(a1, TWidth.Load(ref Unsafe.Add(ref xi, w)), TWidth.Load(ref Unsafe.Add(ref yi, w)), m);
            if (regs > 2)
            {
                a2 = TStep.Step<TVector, TWidth>(a2, TWidth.Load(ref Unsafe.Add(ref xi, 2 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 2 * w)), m);
                a3 = TStep.Step<TVector, TWidth>(a3, TWidth.Load(ref Unsafe.Add(ref xi, 3 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 3 * w)), m);
            }
            if (regs > 4)
            {
                a4 = TStep.Step<TVector, TWidth>(a4, TWidth.Load(ref Unsafe.Add(ref xi, 4 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 4 * w)), m);
                a5 = TStep.Step<TVector, TWidth>(a5, TWidth.Load(ref Unsafe.Add(ref xi, 5 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 5 * w)), m);
                a6 = TStep.Step<TVector, TWidth>(a6, TWidth.Load(ref Unsafe.Add(ref xi, 6 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 6 * w)), m);
                a7 = TStep.Step<TVector, TWidth>(a7, TWidth.Load(ref Unsafe.Add(ref xi, 7 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 7 * w)), m);
            }
            if (regs > 8)
            {
                a8 = TStep.Step<TVector, TWidth>(a8, TWidth.Load(ref Unsafe.Add(ref xi, 8 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 8 * w)), m);
                a9 = TStep.Step<TVector, TWidth>(a9, TWidth.Load(ref Unsafe.Add(ref xi, 9 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 9 * w)), m);
                a10 = TStep.Step<TVector, TWidth>(a10, TWidth.Load(ref Unsafe.Add(ref xi, 10 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 10 * w)), m);
                a11 = TStep.Step<TVector, TWidth>(a11, TWidth.Load(ref Unsafe.Add(ref xi, 11 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 11 * w)), m);
                a12 = TStep.Step<TVector, TWidth>(a12, TWidth.Load(ref Unsafe.Add(ref xi, 12 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 12 * w)), m);
                a13 = TStep.Step<TVector, TWidth>(a13, TWidth.Load(ref Unsafe.Add(ref xi, 13 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 13 * w)), m);
                a14 = TStep.Step<TVector, TWidth>(a14, TWidth.Load(ref Unsafe.Add(ref xi, 14 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 14 * w)), m);
                a15 = TStep.Step<TVector, TWidth>(a15, TWidth.Load(ref Unsafe.Add(ref xi, 15 * w)), TWidth.Load(ref Unsafe.Add(ref yi, 15 * w)), m);
            }
        }
        if (whole < n)
        {
            // The last, partial block: copied into zeroed buffers (nothing is read past the spans), and a
            // lane whose element lies past the end keeps its sum.
            int rest = n - whole;
            Span<T> bx = stackalloc T[Lanes], by = stackalloc T[Lanes];
            bx.Clear();
            by.Clear();
            x[whole..].CopyTo(bx);
            y[whole..n].CopyTo(by);
            ref T xi = ref MemoryMarshal.GetReference(bx), yi = ref MemoryMarshal.GetReference(by);
            a0 = Masked<T, TStep, TVector, TWidth>(a0, ref xi, ref yi, m, rest, 0);
            if (regs > 1) a1 = Masked<T, TStep, TVector, TWidth>(a1, ref xi, ref yi, m, rest, 1);
            if (regs > 2)
            {
                a2 = Masked<T, TStep, TVector, TWidth>(a2, ref xi, ref yi, m, rest, 2);
                a3 = Masked<T, TStep, TVector, TWidth>(a3, ref xi, ref yi, m, rest, 3);
            }
            if (regs > 4)
            {
                a4 = Masked<T, TStep, TVector, TWidth>(a4, ref xi, ref yi, m, rest, 4);
                a5 = Masked<T, TStep, TVector, TWidth>(a5, ref xi, ref yi, m, rest, 5);
                a6 = Masked<T, TStep, TVector, TWidth>(a6, ref xi, ref yi, m, rest, 6);
                a7 = Masked<T, TStep, TVector, TWidth>(a7, ref xi, ref yi, m, rest, 7);
            }
            if (regs > 8)
            {
                a8 = Masked<T, TStep, TVector, TWidth>(a8, ref xi, ref yi, m, rest, 8);
                a9 = Masked<T, TStep, TVector, TWidth>(a9, ref xi, ref yi, m, rest, 9);
                a10 = Masked<T, TStep, TVector, TWidth>(a10, ref xi, ref yi, m, rest, 10);
                a11 = Masked<T, TStep, TVector, TWidth>(a11, ref xi, ref yi, m, rest, 11);
                a12 = Masked<T, TStep, TVector, TWidth>(a12, ref xi, ref yi, m, rest, 12);
                a13 = Masked<T, TStep, TVector, TWidth>(a13, ref xi, ref yi, m, rest, 13);
                a14 = Masked<T, TStep, TVector, TWidth>(a14, ref xi, ref yi, m, rest, 14);
                a15 = Masked<T, TStep, TVector, TWidth>(a15, ref xi, ref yi, m, rest, 15);
            }
        }
        // The tree: lane j += lane j + 8, + 4, + 2, + 1, across registers first, then inside the last one.
        if (regs > 8)
        {
            a0 = TWidth.Add(a0, a8); a1 = TWidth.Add(a1, a9); a2 = TWidth.Add(a2, a10); a3 = TWidth.Add(a3, a11);
            a4 = TWidth.Add(a4, a12); a5 = TWidth.Add(a5, a13); a6 = TWidth.Add(a6, a14); a7 = TWidth.Add(a7, a15);
        }
        if (regs > 4)
        {
            a0 = TWidth.Add(a0, a4); a1 = TWidth.Add(a1, a5); a2 = TWidth.Add(a2, a6); a3 = TWidth.Add(a3, a7);
        }
        if (regs > 2)
        {
            a0 = TWidth.Add(a0, a2); a1 = TWidth.Add(a1, a3);
        }
        if (regs > 1) a0 = TWidth.Add(a0, a1);
        return TWidth.FoldSum(a0);
    }

    /// <summary>Register <paramref name="r"/> of the last block: the step in the lanes whose index is below <paramref name="rest"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Masked<T, TStep, TVector, TWidth>(TVector sum, ref T x, ref T y, TVector mu, int rest, int r)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TStep : struct, IReductionStep<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int w = TWidth.Count;
        TVector stepped = TStep.Step<TVector, TWidth>(sum, TWidth.Load(ref Unsafe.Add(ref x, r * w)), TWidth.Load(ref Unsafe.Add(ref y, r * w)), mu);
        if (w == 1) return r < rest ? stepped : sum;
        TVector inside = TWidth.LessThan(TWidth.Load(in LaneIndex<T>.Values[r * w]), TWidth.Broadcast(T.CreateTruncating(rest)));
        return TWidth.Select(inside, stepped, sum);
    }

    /// <summary>0, 1, ..., 15 as <typeparamref name="T"/>: the lane numbers the last block's mask compares.</summary>
    private static class LaneIndex<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static readonly T[] Values = Enumerable.Range(0, Lanes).Select(i => T.CreateTruncating(i)).ToArray();
    }
}

/// <summary>What one element adds to its lane in a reduction (the same operation on every width).</summary>
internal interface IReductionStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The lane sums <paramref name="sum"/> after the elements <paramref name="x"/> (and <paramref name="y"/>; <paramref name="mu"/> for deviations).</summary>
    static abstract TVector Step<TVector, TWidth>(TVector sum, TVector x, TVector y, TVector mu)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>;
}

/// <summary>s + x.</summary>
internal readonly struct SumStep<T> : IReductionStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Step<TVector, TWidth>(TVector sum, TVector x, TVector y, TVector mu)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => TWidth.Add(sum, x);
}

/// <summary>fma(x, x, s).</summary>
internal readonly struct SquareStep<T> : IReductionStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Step<TVector, TWidth>(TVector sum, TVector x, TVector y, TVector mu)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => TWidth.MultiplyAdd(x, x, sum);
}

/// <summary>fma(x, y, s).</summary>
internal readonly struct DotStep<T> : IReductionStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Step<TVector, TWidth>(TVector sum, TVector x, TVector y, TVector mu)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => TWidth.MultiplyAdd(x, y, sum);
}

/// <summary>fma(x - μ, x - μ, s).</summary>
internal readonly struct DeviationSquareStep<T> : IReductionStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Step<TVector, TWidth>(TVector sum, TVector x, TVector y, TVector mu)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector d = TWidth.Subtract(x, mu);
        return TWidth.MultiplyAdd(d, d, sum);
    }
}

/// <summary>fma(y, x - μ, s).</summary>
internal readonly struct DeviationDotStep<T> : IReductionStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Step<TVector, TWidth>(TVector sum, TVector x, TVector y, TVector mu)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => TWidth.MultiplyAdd(y, TWidth.Subtract(x, mu), sum);
}
