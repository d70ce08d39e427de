// exp, log, tanh and the logistic sigmoid, element by element, with one algorithm written once over
// IVectorWidth and instantiated for Vector512, Vector256, Vector128 and plain scalars: every width runs
// the same IEEE operations in the same order (multiply-adds fused everywhere), so every width gives the
// same bits, on every machine (no C library, no TensorPrimitives, whose vector paths and scalar tails
// differ by width and by where the tail starts). docs/DETERMINISM.md lists the operations; in short:
//
//   exp(x)      x clamped to [lo, hi] (float [-110, 89], double [-750, 710]: beyond, the result is 0 or
//               infinity anyway; NaN stays NaN); Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2:
//                 n = (fma(x, log2e, M) - M) with M = 1.5 * 2^23 (2^52) (round to nearest integer)
//                 r = fma(n, -ln2_hi, x), r = fma(n, -ln2_lo, r)
//               expm1(r) by its Taylor polynomial (degree 8 float, 13 double) in Horner form with fma:
//                 q = c_N; q = fma(q, r, c_k) for k = N-1 .. 2; e = fma(q, r * r, r)
//               then exp = ((e + 1) * 2^n1) * 2^n2 with n1 = round(n / 2), n2 = n - n1 (two exact
//               powers of two built from their bits, so results down to the subnormals and up to
//               overflow are rounded once, at the last multiply).
//   tanh(x)     t = min(2|x|, 40); E = expm1(t) = fma(2^n, e, 2^n - 1) from the same reduction;
//               tanh = E / (E + 2), with x's sign put back (so tanh(-0) = -0).
//   sigmoid(x)  1 / (1 + exp(-x)).
//   log(x)      subnormals scaled by 2^(mantissa bits + 1) first; x = m 2^k with m in [sqrt(1/2), sqrt(2));
//               f = m - 1, s = f / (2 + f), z = s * s, R = z (c1 + z (c2 + ...)) (atanh series, 5 terms
//               float, 11 double), log m = fma(s, R, s + s), log x = fma(k, ln2_hi, fma(k, ln2_lo, log m));
//               log 0 = -inf, log of a negative = NaN, log inf = inf, NaN stays NaN.
//
// Accuracy (tests/SharpCnn.Tests/Kernels/MathKernelsTests.cs): within 2 ulp of the correctly rounded
// exp, log and sigmoid, 3 ulp for tanh, over the whole range.
//
// A span is run on the widest accelerated width, what is left on the next narrower ones, the last
// elements on the scalar lanes; since all compute the same bits, where the tail starts does not matter.
// Types other than float and double (Half) are computed in float and rounded to T.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>exp, log, tanh and sigmoid with one algorithm on every SIMD width, so every width gives the same bits.</summary>
internal static class MathKernels
{
    /// <summary>y = exp(x), element by element (<paramref name="y"/> may be <paramref name="x"/>).</summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Run<T, ExpFunction>(x, y);

    /// <summary>y = ln(x), element by element (<paramref name="y"/> may be <paramref name="x"/>).</summary>
    public static void Log<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Run<T, LogFunction>(x, y);

    /// <summary>y = tanh(x), element by element (<paramref name="y"/> may be <paramref name="x"/>).</summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Run<T, TanhFunction>(x, y);

    /// <summary>y = 1 / (1 + exp(-x)), element by element (<paramref name="y"/> may be <paramref name="x"/>).</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Run<T, SigmoidFunction>(x, y);

    /// <summary>exp(x) of one value: the scalar lanes, the same bits as any vector lane.</summary>
    public static T Exp<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => One<T, ExpFunction>(x);

    /// <summary>ln(x) of one value: the scalar lanes, the same bits as any vector lane.</summary>
    public static T Log<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => One<T, LogFunction>(x);

    /// <summary>The plain loop the span kernels are held to: every element on the scalar lanes.</summary>
    public static void ExpReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Reference<T, ExpFunction>(x, y);

    /// <summary>The plain loop <see cref="Log{T}(ReadOnlySpan{T}, Span{T})"/> is held to.</summary>
    public static void LogReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Reference<T, LogFunction>(x, y);

    /// <summary>The plain loop <see cref="Tanh{T}"/> is held to.</summary>
    public static void TanhReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Reference<T, TanhFunction>(x, y);

    /// <summary>The plain loop <see cref="Sigmoid{T}"/> is held to.</summary>
    public static void SigmoidReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Reference<T, SigmoidFunction>(x, y);

    private static T One<T, TFunction>(T x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TFunction : struct, IMathFunction
    {
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double)) return TFunction.Compute<T, T, WidthScalar<T>>(x);
        return T.CreateTruncating(TFunction.Compute<float, float, WidthScalar<float>>(float.CreateTruncating(x)));
    }

    private static void Reference<T, TFunction>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TFunction : struct, IMathFunction
    {
        if (y.Length < x.Length) throw new ArgumentException($"the output has {y.Length} values for {x.Length} inputs");
        for (int i = 0; i < x.Length; i++) y[i] = One<T, TFunction>(x[i]);
    }

    private static void Run<T, TFunction>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TFunction : struct, IMathFunction
    {
        if (y.Length < x.Length) throw new ArgumentException($"the output has {y.Length} values for {x.Length} inputs");
        int i = 0;
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Width512<T>.IsAccelerated) i = Whole<T, TFunction, Vector512<T>, Width512<T>>(x, y, i);
            if (Width256<T>.IsAccelerated) i = Whole<T, TFunction, Vector256<T>, Width256<T>>(x, y, i);
            if (Width128<T>.IsAccelerated) i = Whole<T, TFunction, Vector128<T>, Width128<T>>(x, y, i);
        }
        for (; i < x.Length; i++) y[i] = One<T, TFunction>(x[i]);
    }

    /// <summary>Whole registers from <paramref name="start"/> on; returns where they stopped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Whole<T, TFunction, TVector, TWidth>(ReadOnlySpan<T> x, Span<T> y, int start)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TFunction : struct, IMathFunction
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int w = TWidth.Count, i = start;
        ref T xr = ref MemoryMarshal.GetReference(x), yr = ref MemoryMarshal.GetReference(y);
        for (; i + w <= x.Length; i += w)
            TWidth.Store(TFunction.Compute<T, TVector, TWidth>(TWidth.Load(ref Unsafe.Add(ref xr, i))), ref Unsafe.Add(ref yr, i));
        return i;
    }

    // ---- the algorithms, one instantiation per width (float and double only) ----

    /// <summary>A lane broadcast of the value <paramref name="value"/> rounded to T.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector Constant<T, TVector, TWidth>(double value)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => TWidth.Broadcast(T.CreateTruncating(value));

    /// <summary>A lane broadcast of the bit pattern <paramref name="floatBits"/> (float) or <paramref name="doubleBits"/> (double).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector Pattern<T, TVector, TWidth>(uint floatBits, ulong doubleBits)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> =>
        TWidth.Broadcast(typeof(T) == typeof(float) ? Unsafe.BitCast<uint, T>(floatBits) : Unsafe.BitCast<ulong, T>(doubleBits));

    /// <summary>Mantissa bits of T (23 or 52).</summary>
    internal static int MantissaBits<T>() => typeof(T) == typeof(float) ? 23 : 52;

    /// <summary>1.5 · 2^(mantissa bits): added to a value below 2^(mantissa bits - 1) in magnitude, it rounds it to the nearest integer, which its low bits then hold.</summary>
    internal static double RoundingConstant<T>() => typeof(T) == typeof(float) ? 12582912.0 : 6755399441055744.0;

    /// <summary>
    /// The shared reduction: n = round(x / ln2) and r = x - n ln2 (Cody-Waite, two fused steps), and
    /// e = expm1(r) by its Taylor polynomial. |x| must be below 2^21 (the callers clamp it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (TVector N, TVector E) Reduce<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector magic = Constant<T, TVector, TWidth>(RoundingConstant<T>());
        TVector n = TWidth.Subtract(TWidth.MultiplyAdd(x, Constant<T, TVector, TWidth>(1.4426950408889634), magic), magic);
        // ln2 = hi + lo, hi with enough trailing zero bits that n * hi is exact for the n used here.
        TVector r = typeof(T) == typeof(float)
            ? TWidth.MultiplyAdd(n, Constant<T, TVector, TWidth>(-0.693145751953125), x)
            : TWidth.MultiplyAdd(n, Constant<T, TVector, TWidth>(-0.6931471803691238), x);
        r = typeof(T) == typeof(float)
            ? TWidth.MultiplyAdd(n, Constant<T, TVector, TWidth>(-1.4286068203094173e-06), r)
            : TWidth.MultiplyAdd(n, Constant<T, TVector, TWidth>(-1.9082149292705877e-10), r);
        // expm1(r) = r + r^2 (1/2! + r (1/3! + r (1/4! + ...))), degree 8 (float) or 13 (double).
        TVector q;
        if (typeof(T) == typeof(float))
        {
            q = Constant<T, TVector, TWidth>(1.0 / 40320);
            q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 5040));
        }
        else
        {
            q = Constant<T, TVector, TWidth>(1.0 / 6227020800);
            q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 479001600));
            q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 39916800));
            q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 3628800));
            q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 362880));
            q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 40320));
            q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 5040));
        }
        q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 720));
        q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 120));
        q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 24));
        q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(1.0 / 6));
        q = TWidth.MultiplyAdd(q, r, Constant<T, TVector, TWidth>(0.5));
        TVector e = TWidth.MultiplyAdd(q, TWidth.Multiply(r, r), r);
        return (n, e);
    }

    /// <summary>2^n for an integer-valued n whose biased exponent is a normal one, built from its bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector PowerOfTwo<T, TVector, TWidth>(TVector n)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        // n + M holds n in its low bits: bits(n + M) = bits(M) + n; adding bias - bits(M) leaves n + bias.
        TVector shifted = TWidth.Add(n, Constant<T, TVector, TWidth>(RoundingConstant<T>()));
        TVector biased = TWidth.AddInteger(shifted, Pattern<T, TVector, TWidth>(unchecked(127u - 0x4B400000u), unchecked(1023ul - 0x4338000000000000ul)));
        return TWidth.ShiftLeftInteger(biased, MantissaBits<T>());
    }

    /// <summary>exp on one register (see the top of the file).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector ExpCore<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        bool single = typeof(T) == typeof(float);
        x = TWidth.Max(TWidth.Min(x, Constant<T, TVector, TWidth>(single ? 89 : 710)), Constant<T, TVector, TWidth>(single ? -110 : -750));
        var (n, e) = Reduce<T, TVector, TWidth>(x);
        TVector magic = Constant<T, TVector, TWidth>(RoundingConstant<T>());
        TVector n1 = TWidth.Subtract(TWidth.MultiplyAdd(n, Constant<T, TVector, TWidth>(0.5), magic), magic);
        TVector n2 = TWidth.Subtract(n, n1);
        TVector y = TWidth.Add(e, TWidth.Broadcast(T.One));
        return TWidth.Multiply(TWidth.Multiply(y, PowerOfTwo<T, TVector, TWidth>(n1)), PowerOfTwo<T, TVector, TWidth>(n2));
    }

    /// <summary>tanh on one register (see the top of the file).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector TanhCore<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector sign = TWidth.And(x, Pattern<T, TVector, TWidth>(0x80000000u, 0x8000000000000000ul));
        TVector a = TWidth.Xor(x, sign);
        TVector t = TWidth.Min(TWidth.Add(a, a), Constant<T, TVector, TWidth>(40));
        var (n, e) = Reduce<T, TVector, TWidth>(t);
        TVector s = PowerOfTwo<T, TVector, TWidth>(n);
        TVector big = TWidth.MultiplyAdd(s, e, TWidth.Subtract(s, TWidth.Broadcast(T.One)));
        TVector y = TWidth.Divide(big, TWidth.Add(big, Constant<T, TVector, TWidth>(2)));
        return TWidth.Or(y, sign);
    }

    /// <summary>The logistic sigmoid on one register: 1 / (1 + exp(-x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector SigmoidCore<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector minus = TWidth.Xor(x, Pattern<T, TVector, TWidth>(0x80000000u, 0x8000000000000000ul));
        TVector one = TWidth.Broadcast(T.One);
        return TWidth.Divide(one, TWidth.Add(one, ExpCore<T, TVector, TWidth>(minus)));
    }

    /// <summary>The natural logarithm on one register (see the top of the file).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector LogCore<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        bool single = typeof(T) == typeof(float);
        int mantissa = MantissaBits<T>();
        TVector one = TWidth.Broadcast(T.One), zero = TWidth.Zero;
        // Subnormals: scale into the normal range first and take the power back from the exponent.
        TVector tiny = TWidth.LessThan(x, Pattern<T, TVector, TWidth>(0x00800000u, 0x0010000000000000ul));
        TVector scaled = TWidth.Select(tiny, TWidth.Multiply(x, Constant<T, TVector, TWidth>(single ? 16777216.0 : 9007199254740992.0)), x);
        TVector offset = TWidth.Select(tiny, Constant<T, TVector, TWidth>(single ? 24 : 53), zero);
        // Biased exponent as a number: its bits added to those of M make M + exponent.
        TVector magic = Constant<T, TVector, TWidth>(RoundingConstant<T>());
        TVector biased = TWidth.Subtract(TWidth.AddInteger(TWidth.ShiftRightLogicalInteger(scaled, mantissa), magic), magic);
        TVector k = TWidth.Subtract(TWidth.Subtract(biased, Constant<T, TVector, TWidth>(single ? 127 : 1023)), offset);
        // m in [1, 2), then halved (exactly) when above sqrt(2), k raised to match.
        TVector m = TWidth.Or(TWidth.And(scaled, Pattern<T, TVector, TWidth>(0x007FFFFFu, 0x000FFFFFFFFFFFFFul)), one);
        TVector high = TWidth.LessThan(Constant<T, TVector, TWidth>(1.4142135623730951), m);
        m = TWidth.Select(high, TWidth.Multiply(m, Constant<T, TVector, TWidth>(0.5)), m);
        k = TWidth.Add(k, TWidth.And(high, one));
        // log m = 2 atanh(s), s = f / (2 + f), f = m - 1 (exact).
        TVector f = TWidth.Subtract(m, one);
        TVector s = TWidth.Divide(f, TWidth.Add(f, Constant<T, TVector, TWidth>(2)));
        TVector z = TWidth.Multiply(s, s);
        TVector q;
        if (single)
        {
            q = Constant<T, TVector, TWidth>(2.0 / 11);
        }
        else
        {
            q = Constant<T, TVector, TWidth>(2.0 / 23);
            q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 21));
            q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 19));
            q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 17));
            q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 15));
            q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 13));
            q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 11));
        }
        q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 9));
        q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 7));
        q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 5));
        q = TWidth.MultiplyAdd(q, z, Constant<T, TVector, TWidth>(2.0 / 3));
        TVector logm = TWidth.MultiplyAdd(s, TWidth.Multiply(z, q), TWidth.Add(s, s));
        TVector result = single
            ? TWidth.MultiplyAdd(k, Constant<T, TVector, TWidth>(0.693145751953125), TWidth.MultiplyAdd(k, Constant<T, TVector, TWidth>(1.4286068203094173e-06), logm))
            : TWidth.MultiplyAdd(k, Constant<T, TVector, TWidth>(0.6931471803691238), TWidth.MultiplyAdd(k, Constant<T, TVector, TWidth>(1.9082149292705877e-10), logm));
        // The special values: log ±0 = -inf, log of a negative = NaN, log inf = inf, NaN stays NaN.
        result = TWidth.Select(TWidth.EqualTo(x, zero), Constant<T, TVector, TWidth>(double.NegativeInfinity), result);
        result = TWidth.Select(TWidth.LessThan(x, zero), Constant<T, TVector, TWidth>(double.NaN), result);
        result = TWidth.Select(TWidth.EqualTo(x, Constant<T, TVector, TWidth>(double.PositiveInfinity)), x, result);
        return TWidth.Select(TWidth.EqualTo(x, x), result, x);
    }
}

/// <summary>One of the functions of <see cref="MathKernels"/>, on one register of any width.</summary>
internal interface IMathFunction
{
    /// <summary>The function of every lane of <paramref name="x"/> (T is float or double).</summary>
    static abstract TVector Compute<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>;
}

/// <summary>exp.</summary>
internal readonly struct ExpFunction : IMathFunction
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Compute<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => MathKernels.ExpCore<T, TVector, TWidth>(x);
}

/// <summary>ln.</summary>
internal readonly struct LogFunction : IMathFunction
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Compute<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => MathKernels.LogCore<T, TVector, TWidth>(x);
}

/// <summary>tanh.</summary>
internal readonly struct TanhFunction : IMathFunction
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Compute<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => MathKernels.TanhCore<T, TVector, TWidth>(x);
}

/// <summary>The logistic sigmoid.</summary>
internal readonly struct SigmoidFunction : IMathFunction
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Compute<T, TVector, TWidth>(TVector x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => MathKernels.SigmoidCore<T, TVector, TWidth>(x);
}
