// Batch normalisation's element-wise passes, each one pass over the data instead of three or four
// TensorPrimitives passes, with the same IEEE operations in the same order (each rounded on its own, as
// the layer wrote them), so the same bits on every width; each has a plain reference beside it:
//
//   Normalize       y  = ((x - μ)·a) + b                   forward (a = γ/σ, b = β)
//   InputGradient   dx = (δ·k) + (((x - μ)·p) + q)         backward (k = γ/σ; p, q the two mean terms)
//
// Each exists for one channel's plane (μ, a, b, ... scalars) and for one sample's row of a vector input
// (a dense layer's output, plane 1: μ, a, b, ... per feature, read from spans as long as the row).
//
// The row sums of a vector input: a channel's plane of one value reduced in the canonical 16-lane order
// (Reductions) is step(+0, value) + 0 (lane 0 takes the step, the tree adds +0 four times, which only turns
// -0 into +0). So with plane 1 the per-sample sums the layer adds in sample order are, per feature,
//   AddRowSums                sum += (0 + x) + 0
//   AddRowDeviationSquares    sum += fma(x - μ, x - μ, 0) + 0
//   AddRowBackwardSums        sum += (0 + δ) + 0,   dot += fma(δ, x - μ, 0) + 0
// vectorised across features instead of one Reductions call per value.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>Batch normalisation's one-pass element-wise kernels and row sums (see the top of the file), with their references.</summary>
internal static class NormalizationKernels
{
    private interface IFlag
    {
        static abstract bool On { get; }
    }

    /// <summary>Per-feature operands read from spans (a row of a vector input).</summary>
    private readonly struct PerFeature : IFlag
    {
        public static bool On => true;
    }

    /// <summary>One operand for the whole span (a channel's plane).</summary>
    private readonly struct PerPlane : IFlag
    {
        public static bool On => false;
    }

    /// <summary>y = ((x - μ)·a) + b with one μ, a, b.</summary>
    public static void Normalize<T>(ReadOnlySpan<T> x, T mu, T a, T b, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReadOnlySpan<T> m = [mu], sa = [a], sb = [b];
        NormalizeAny<T, PerPlane>(x, m, sa, sb, y);
    }

    /// <summary>y[i] = ((x[i] - μ[i])·a[i]) + b[i].</summary>
    public static void NormalizeRow<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> mu, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (mu.Length < y.Length || a.Length < y.Length || b.Length < y.Length) throw new ArgumentException("NormalizeRow: μ, a and b must be as long as y");
        NormalizeAny<T, PerFeature>(x, mu, a, b, y);
    }

    /// <summary>The plain loop <see cref="Normalize{T}"/> and <see cref="NormalizeRow{T}"/> are held to (<paramref name="perFeature"/>: operands per element, else their first value).</summary>
    public static void NormalizeReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> mu, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y, bool perFeature)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < y.Length; i++)
        {
            int j = perFeature ? i : 0;
            T centred = x[i] - mu[j];
            T scaled = centred * a[j];
            y[i] = scaled + b[j];
        }
    }

    private static void NormalizeAny<T, TRow>(ReadOnlySpan<T> x, ReadOnlySpan<T> mu, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TRow : struct, IFlag
    {
        if (x.Length < y.Length) throw new ArgumentException("Normalize: x must be as long as y");
        int i = 0;
        if (Width512<T>.IsAccelerated && y.Length >= 64) i = Normalize<T, Vector512<T>, Width512<T>, TRow>(x, mu, a, b, y, 0);
        else if (Width256<T>.IsAccelerated) i = Normalize<T, Vector256<T>, Width256<T>, TRow>(x, mu, a, b, y, 0);
        else if (Width128<T>.IsAccelerated) i = Normalize<T, Vector128<T>, Width128<T>, TRow>(x, mu, a, b, y, 0);
        Normalize<T, T, WidthScalar<T>, TRow>(x, mu, a, b, y, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Normalize<T, TVector, TWidth, TRow>(ReadOnlySpan<T> x, ReadOnlySpan<T> mu, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y, int start)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
        where TRow : struct, IFlag
    {
        int w = TWidth.Count, end = y.Length - (y.Length - start) % w;
        ref T xr = ref MemoryMarshal.GetReference(x), yr = ref MemoryMarshal.GetReference(y);
        ref T mr = ref MemoryMarshal.GetReference(mu), ar = ref MemoryMarshal.GetReference(a), br = ref MemoryMarshal.GetReference(b);
        TVector m = TWidth.Broadcast(mr), sa = TWidth.Broadcast(ar), sb = TWidth.Broadcast(br);
        for (int i = start; i < end; i += w)
        {
            if (TRow.On)
            {
                m = TWidth.Load(in Unsafe.Add(ref mr, i));
                sa = TWidth.Load(in Unsafe.Add(ref ar, i));
                sb = TWidth.Load(in Unsafe.Add(ref br, i));
            }
            TVector v = TWidth.Multiply(TWidth.Subtract(TWidth.Load(in Unsafe.Add(ref xr, i)), m), sa);
            TWidth.Store(TWidth.Add(v, sb), ref Unsafe.Add(ref yr, i));
        }
        return end;
    }

    /// <summary>dx = (δ·k) + (((x - μ)·p) + q) with one μ, p, q, k.</summary>
    public static void InputGradient<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, T mu, T p, T q, T k, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReadOnlySpan<T> m = [mu], sp = [p], sq = [q], sk = [k];
        InputGradientAny<T, PerPlane>(x, dy, m, sp, sq, sk, dx);
    }

    /// <summary>dx[i] = (δ[i]·k[i]) + (((x[i] - μ[i])·p[i]) + q[i]).</summary>
    public static void InputGradientRow<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, ReadOnlySpan<T> mu, ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> k, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = dx.Length;
        if (mu.Length < n || p.Length < n || q.Length < n || k.Length < n) throw new ArgumentException("InputGradientRow: μ, p, q and k must be as long as dx");
        InputGradientAny<T, PerFeature>(x, dy, mu, p, q, k, dx);
    }

    /// <summary>The plain loop <see cref="InputGradient{T}"/> and <see cref="InputGradientRow{T}"/> are held to.</summary>
    public static void InputGradientReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, ReadOnlySpan<T> mu, ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> k, Span<T> dx, bool perFeature)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < dx.Length; i++)
        {
            int j = perFeature ? i : 0;
            T centred = x[i] - mu[j];
            T scaled = centred * p[j];
            T shifted = scaled + q[j];
            T direct = dy[i] * k[j];
            dx[i] = direct + shifted;
        }
    }

    private static void InputGradientAny<T, TRow>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, ReadOnlySpan<T> mu, ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> k, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TRow : struct, IFlag
    {
        if (x.Length < dx.Length || dy.Length < dx.Length) throw new ArgumentException("InputGradient: x and δ must be as long as dx");
        int i = 0;
        if (Width512<T>.IsAccelerated && dx.Length >= 64) i = InputGradient<T, Vector512<T>, Width512<T>, TRow>(x, dy, mu, p, q, k, dx, 0);
        else if (Width256<T>.IsAccelerated) i = InputGradient<T, Vector256<T>, Width256<T>, TRow>(x, dy, mu, p, q, k, dx, 0);
        else if (Width128<T>.IsAccelerated) i = InputGradient<T, Vector128<T>, Width128<T>, TRow>(x, dy, mu, p, q, k, dx, 0);
        InputGradient<T, T, WidthScalar<T>, TRow>(x, dy, mu, p, q, k, dx, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int InputGradient<T, TVector, TWidth, TRow>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, ReadOnlySpan<T> mu, ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> k, Span<T> dx, int start)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
        where TRow : struct, IFlag
    {
        int w = TWidth.Count, end = dx.Length - (dx.Length - start) % w;
        ref T xr = ref MemoryMarshal.GetReference(x), dyr = ref MemoryMarshal.GetReference(dy), dxr = ref MemoryMarshal.GetReference(dx);
        ref T mr = ref MemoryMarshal.GetReference(mu), pr = ref MemoryMarshal.GetReference(p);
        ref T qr = ref MemoryMarshal.GetReference(q), kr = ref MemoryMarshal.GetReference(k);
        TVector vm = TWidth.Broadcast(mr), vp = TWidth.Broadcast(pr), vq = TWidth.Broadcast(qr), vk = TWidth.Broadcast(kr);
        for (int i = start; i < end; i += w)
        {
            if (TRow.On)
            {
                vm = TWidth.Load(in Unsafe.Add(ref mr, i));
                vp = TWidth.Load(in Unsafe.Add(ref pr, i));
                vq = TWidth.Load(in Unsafe.Add(ref qr, i));
                vk = TWidth.Load(in Unsafe.Add(ref kr, i));
            }
            TVector shifted = TWidth.Add(TWidth.Multiply(TWidth.Subtract(TWidth.Load(in Unsafe.Add(ref xr, i)), vm), vp), vq);
            TVector direct = TWidth.Multiply(TWidth.Load(in Unsafe.Add(ref dyr, i)), vk);
            TWidth.Store(TWidth.Add(direct, shifted), ref Unsafe.Add(ref dxr, i));
        }
        return end;
    }

    /// <summary>sums[i] += (0 + x[i]) + 0: each value's canonical one-element sum added in (a row of plane-1 channels).</summary>
    public static void AddRowSums<T>(ReadOnlySpan<T> x, Span<T> sums) where T : unmanaged, IFloatingPointIeee754<T> =>
        RowSums<T, No>(x, x, x, sums, sums);

    /// <summary>sums[i] += fma(x[i] - μ[i], x[i] - μ[i], 0) + 0.</summary>
    public static void AddRowDeviationSquares<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> mu, Span<T> sums) where T : unmanaged, IFloatingPointIeee754<T> =>
        RowSums<T, Squares>(x, x, mu, sums, sums);

    /// <summary>sums[i] += (0 + δ[i]) + 0 and dots[i] += fma(δ[i], x[i] - μ[i], 0) + 0.</summary>
    public static void AddRowBackwardSums<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, ReadOnlySpan<T> mu, Span<T> sums, Span<T> dots) where T : unmanaged, IFloatingPointIeee754<T> =>
        RowSums<T, Both>(dy, x, mu, sums, dots);

    /// <summary>The plain loop the three row sums are held to: <paramref name="kind"/> 0 sums, 1 deviation squares, 2 backward sums (v = δ).</summary>
    public static void RowSumsReference<T>(int kind, ReadOnlySpan<T> v, ReadOnlySpan<T> x, ReadOnlySpan<T> mu, Span<T> sums, Span<T> dots)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < sums.Length; i++)
        {
            if (kind == 1)
            {
                T d = x[i] - mu[i];
                sums[i] += T.FusedMultiplyAdd(d, d, T.Zero) + T.Zero;
                continue;
            }
            sums[i] += (T.Zero + v[i]) + T.Zero;
            if (kind == 2) dots[i] += T.FusedMultiplyAdd(v[i], x[i] - mu[i], T.Zero) + T.Zero;
        }
    }

    private interface IRowKind
    {
        static abstract int Kind { get; }
    }

    private readonly struct No : IRowKind
    {
        public static int Kind => 0;
    }

    private readonly struct Squares : IRowKind
    {
        public static int Kind => 1;
    }

    private readonly struct Both : IRowKind
    {
        public static int Kind => 2;
    }

    private static void RowSums<T, TKind>(ReadOnlySpan<T> v, ReadOnlySpan<T> x, ReadOnlySpan<T> mu, Span<T> sums, Span<T> dots)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKind : struct, IRowKind
    {
        int n = sums.Length;
        if (v.Length < n || x.Length < n || mu.Length < n || dots.Length < n) throw new ArgumentException("row sums: every span must be as long as the sums");
        int i = 0;
        if (Width512<T>.IsAccelerated && n >= 64) i = RowSums<T, Vector512<T>, Width512<T>, TKind>(v, x, mu, sums, dots, 0);
        else if (Width256<T>.IsAccelerated) i = RowSums<T, Vector256<T>, Width256<T>, TKind>(v, x, mu, sums, dots, 0);
        else if (Width128<T>.IsAccelerated) i = RowSums<T, Vector128<T>, Width128<T>, TKind>(v, x, mu, sums, dots, 0);
        RowSums<T, T, WidthScalar<T>, TKind>(v, x, mu, sums, dots, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int RowSums<T, TVector, TWidth, TKind>(ReadOnlySpan<T> v, ReadOnlySpan<T> x, ReadOnlySpan<T> mu, Span<T> sums, Span<T> dots, int start)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
        where TKind : struct, IRowKind
    {
        int w = TWidth.Count, end = sums.Length - (sums.Length - start) % w;
        ref T vr = ref MemoryMarshal.GetReference(v), xr = ref MemoryMarshal.GetReference(x), mr = ref MemoryMarshal.GetReference(mu);
        ref T sr = ref MemoryMarshal.GetReference(sums), dr = ref MemoryMarshal.GetReference(dots);
        TVector zero = TWidth.Zero;
        for (int i = start; i < end; i += w)
        {
            TVector s = TWidth.Load(in Unsafe.Add(ref sr, i));
            if (TKind.Kind == 1)
            {
                TVector d = TWidth.Subtract(TWidth.Load(in Unsafe.Add(ref xr, i)), TWidth.Load(in Unsafe.Add(ref mr, i)));
                TWidth.Store(TWidth.Add(s, TWidth.Add(TWidth.MultiplyAdd(d, d, zero), zero)), ref Unsafe.Add(ref sr, i));
                continue;
            }
            TVector value = TWidth.Load(in Unsafe.Add(ref vr, i));
            TWidth.Store(TWidth.Add(s, TWidth.Add(TWidth.Add(zero, value), zero)), ref Unsafe.Add(ref sr, i));
            if (TKind.Kind == 2)
            {
                TVector centred = TWidth.Subtract(TWidth.Load(in Unsafe.Add(ref xr, i)), TWidth.Load(in Unsafe.Add(ref mr, i)));
                TVector dot = TWidth.Add(TWidth.MultiplyAdd(value, centred, zero), zero);
                TWidth.Store(TWidth.Add(TWidth.Load(in Unsafe.Add(ref dr, i)), dot), ref Unsafe.Add(ref dr, i));
            }
        }
        return end;
    }
}
