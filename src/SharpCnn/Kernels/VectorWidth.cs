// One SIMD register width seen through a common set of static operations, so a kernel can be
// written once as a generic method and compiled by the JIT for each width it is instantiated
// with (all type arguments are structs, so every instantiation is specialised and the calls
// below inline to single instructions):
//
//   Width512<T>    Vector512<T>   16 floats /  8 doubles per register (AVX-512)
//   Width256<T>    Vector256<T>    8 floats /  4 doubles (AVX2)
//   Width128<T>    Vector128<T>    4 floats /  2 doubles (SSE, AdvSimd)
//   WidthScalar<T> T itself        1 lane   (no hardware intrinsics, or a T without vector support)
//
// The canonical arithmetic (docs/DETERMINISM.md): every operation here is one IEEE 754 operation,
// rounded once, so a lane computes the same bits on every width. In particular MultiplyAdd is ALWAYS
// fused (a * b + c rounded once): Vector*.FusedMultiplyAdd on the vector widths and
// T.FusedMultiplyAdd (Math.FusedMultiplyAdd, correctly rounded) on the scalar one. Where the hardware
// has FMA (every x86-64 with AVX2, every ARM64) that is one instruction; where it has none (x86-64
// below AVX2, or DOTNET_EnableAVX2=0) Vector128 floats compute it exactly through doubles rounded to
// odd (Width128.FusedWithoutFma), and doubles and the scalar path call the runtime's software fma:
// slower, the same bits. Min and Max are IEEE 754-2019 minimum and maximum (NaN wins, -0 < +0) on every
// width. The integer operations reinterpret a lane as the signed integer of the same size (int for
// float, long for double); the kernels use them only on bit patterns (exponent fields).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>
/// The operations a kernel needs from one SIMD width: <typeparamref name="TVector"/>
/// is the register type holding <see cref="Count"/> lanes of <typeparamref name="T"/>.
/// </summary>
internal interface IVectorWidth<TVector, T>
    where TVector : struct
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Lanes of <typeparamref name="T"/> in one register.</summary>
    static abstract int Count { get; }

    /// <summary>True when this width runs on hardware for <typeparamref name="T"/> (always for the scalar width).</summary>
    static abstract bool IsAccelerated { get; }

    /// <summary>All lanes zero.</summary>
    static abstract TVector Zero { get; }

    /// <summary>Reads <see cref="Count"/> consecutive values starting at <paramref name="source"/>.</summary>
    static abstract TVector Load(ref readonly T source);

    /// <summary>Writes all lanes to <see cref="Count"/> consecutive values starting at <paramref name="destination"/>.</summary>
    static abstract void Store(TVector value, ref T destination);

    /// <summary>Every lane set to <paramref name="value"/>.</summary>
    static abstract TVector Broadcast(T value);

    /// <summary>Lane-wise <paramref name="left"/> + <paramref name="right"/>.</summary>
    static abstract TVector Add(TVector left, TVector right);

    /// <summary>Lane-wise <paramref name="left"/> - <paramref name="right"/>.</summary>
    static abstract TVector Subtract(TVector left, TVector right);

    /// <summary>Lane-wise <paramref name="left"/> * <paramref name="right"/>.</summary>
    static abstract TVector Multiply(TVector left, TVector right);

    /// <summary>Lane-wise <paramref name="left"/> / <paramref name="right"/>.</summary>
    static abstract TVector Divide(TVector left, TVector right);

    /// <summary>Lane-wise <paramref name="left"/> * <paramref name="right"/> + <paramref name="addend"/>, always fused (rounded once).</summary>
    static abstract TVector MultiplyAdd(TVector left, TVector right, TVector addend);

    /// <summary>
    /// a * b + c as fast as the hardware does it: fused with FMA, a multiply then an add without. NOT part of
    /// the canonical order (its bits depend on the machine): only the peak-rate measurement (PeakFlops) uses it.
    /// </summary>
    static abstract TVector MultiplyAddEstimate(TVector left, TVector right, TVector addend);

    /// <summary>Lane-wise IEEE 754-2019 minimum (NaN if either is NaN).</summary>
    static abstract TVector Min(TVector left, TVector right);

    /// <summary>Lane-wise IEEE 754-2019 maximum (NaN if either is NaN).</summary>
    static abstract TVector Max(TVector left, TVector right);

    /// <summary>Lane-wise bitwise and.</summary>
    static abstract TVector And(TVector left, TVector right);

    /// <summary>Lane-wise bitwise or.</summary>
    static abstract TVector Or(TVector left, TVector right);

    /// <summary>Lane-wise bitwise exclusive or.</summary>
    static abstract TVector Xor(TVector left, TVector right);

    /// <summary>All bits set in the lanes where <paramref name="left"/> &lt; <paramref name="right"/>, clear elsewhere (and for NaN).</summary>
    static abstract TVector LessThan(TVector left, TVector right);

    /// <summary>All bits set in the lanes where <paramref name="left"/> == <paramref name="right"/>, clear elsewhere (and for NaN).</summary>
    static abstract TVector EqualTo(TVector left, TVector right);

    /// <summary>Per bit: <paramref name="mask"/> ? <paramref name="whenSet"/> : <paramref name="whenClear"/>.</summary>
    static abstract TVector Select(TVector mask, TVector whenSet, TVector whenClear);

    /// <summary>Lane-wise sum of the lanes read as signed integers of T's size (wrapping).</summary>
    static abstract TVector AddInteger(TVector left, TVector right);

    /// <summary>Each lane's bits shifted left by <paramref name="count"/>.</summary>
    static abstract TVector ShiftLeftInteger(TVector value, int count);

    /// <summary>Each lane's bits shifted right by <paramref name="count"/>, zeros shifted in.</summary>
    static abstract TVector ShiftRightLogicalInteger(TVector value, int count);

    /// <summary>
    /// The lanes summed by the canonical pairwise tree: the upper half of the lanes added to the lower
    /// half, lane by lane, until one lane is left ((l0 + l2) + (l1 + l3) for four lanes).
    /// </summary>
    static abstract T FoldSum(TVector value);
}

/// <summary>512-bit registers (<see cref="Vector512{T}"/>); only for float and double.</summary>
internal readonly struct Width512<T> : IVectorWidth<Vector512<T>, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector512<T>.Count;

    public static bool IsAccelerated => Vector512.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    public static Vector512<T> Zero => Vector512<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Load(ref readonly T source) => Vector512.LoadUnsafe(in source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<T> value, ref T destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Broadcast(T value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Add(Vector512<T> left, Vector512<T> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Subtract(Vector512<T> left, Vector512<T> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Multiply(Vector512<T> left, Vector512<T> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Divide(Vector512<T> left, Vector512<T> right) => left / right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> MultiplyAdd(Vector512<T> left, Vector512<T> right, Vector512<T> addend)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(left.AsSingle(), right.AsSingle(), addend.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector512.FusedMultiplyAdd(left.AsDouble(), right.AsDouble(), addend.AsDouble()).As<double, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> MultiplyAddEstimate(Vector512<T> left, Vector512<T> right, Vector512<T> addend)
    {
        if (typeof(T) == typeof(float))
            return Vector512.MultiplyAddEstimate(left.AsSingle(), right.AsSingle(), addend.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector512.MultiplyAddEstimate(left.AsDouble(), right.AsDouble(), addend.AsDouble()).As<double, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Min(Vector512<T> left, Vector512<T> right) => Vector512.Min(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Max(Vector512<T> left, Vector512<T> right) => Vector512.Max(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> And(Vector512<T> left, Vector512<T> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Or(Vector512<T> left, Vector512<T> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Xor(Vector512<T> left, Vector512<T> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> LessThan(Vector512<T> left, Vector512<T> right) => Vector512.LessThan(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> EqualTo(Vector512<T> left, Vector512<T> right) => Vector512.Equals(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Select(Vector512<T> mask, Vector512<T> whenSet, Vector512<T> whenClear) => Vector512.ConditionalSelect(mask, whenSet, whenClear);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> AddInteger(Vector512<T> left, Vector512<T> right)
    {
        if (typeof(T) == typeof(float)) return (left.AsInt32() + right.AsInt32()).As<int, T>();
        if (typeof(T) == typeof(double)) return (left.AsInt64() + right.AsInt64()).As<long, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> ShiftLeftInteger(Vector512<T> value, int count)
    {
        if (typeof(T) == typeof(float)) return Vector512.ShiftLeft(value.AsInt32(), count).As<int, T>();
        if (typeof(T) == typeof(double)) return Vector512.ShiftLeft(value.AsInt64(), count).As<long, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> ShiftRightLogicalInteger(Vector512<T> value, int count)
    {
        if (typeof(T) == typeof(float)) return Vector512.ShiftRightLogical(value.AsUInt32(), count).As<uint, T>();
        if (typeof(T) == typeof(double)) return Vector512.ShiftRightLogical(value.AsUInt64(), count).As<ulong, T>();
        throw LaneType.Unsupported<T>();
    }

    /// <summary>Upper 256 bits onto the lower 256, then as <see cref="Width256{T}.FoldSum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldSum(Vector512<T> value) => Width256<T>.FoldSum(value.GetLower() + value.GetUpper());
}

/// <summary>256-bit registers (<see cref="Vector256{T}"/>); only for float and double.</summary>
internal readonly struct Width256<T> : IVectorWidth<Vector256<T>, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector256<T>.Count;

    public static bool IsAccelerated => Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    public static Vector256<T> Zero => Vector256<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Load(ref readonly T source) => Vector256.LoadUnsafe(in source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<T> value, ref T destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Broadcast(T value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Add(Vector256<T> left, Vector256<T> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Subtract(Vector256<T> left, Vector256<T> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Multiply(Vector256<T> left, Vector256<T> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Divide(Vector256<T> left, Vector256<T> right) => left / right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> MultiplyAdd(Vector256<T> left, Vector256<T> right, Vector256<T> addend)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(left.AsSingle(), right.AsSingle(), addend.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(left.AsDouble(), right.AsDouble(), addend.AsDouble()).As<double, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> MultiplyAddEstimate(Vector256<T> left, Vector256<T> right, Vector256<T> addend)
    {
        if (typeof(T) == typeof(float))
            return Vector256.MultiplyAddEstimate(left.AsSingle(), right.AsSingle(), addend.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.MultiplyAddEstimate(left.AsDouble(), right.AsDouble(), addend.AsDouble()).As<double, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Min(Vector256<T> left, Vector256<T> right) => Vector256.Min(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Max(Vector256<T> left, Vector256<T> right) => Vector256.Max(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> And(Vector256<T> left, Vector256<T> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Or(Vector256<T> left, Vector256<T> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Xor(Vector256<T> left, Vector256<T> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> LessThan(Vector256<T> left, Vector256<T> right) => Vector256.LessThan(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> EqualTo(Vector256<T> left, Vector256<T> right) => Vector256.Equals(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Select(Vector256<T> mask, Vector256<T> whenSet, Vector256<T> whenClear) => Vector256.ConditionalSelect(mask, whenSet, whenClear);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> AddInteger(Vector256<T> left, Vector256<T> right)
    {
        if (typeof(T) == typeof(float)) return (left.AsInt32() + right.AsInt32()).As<int, T>();
        if (typeof(T) == typeof(double)) return (left.AsInt64() + right.AsInt64()).As<long, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> ShiftLeftInteger(Vector256<T> value, int count)
    {
        if (typeof(T) == typeof(float)) return Vector256.ShiftLeft(value.AsInt32(), count).As<int, T>();
        if (typeof(T) == typeof(double)) return Vector256.ShiftLeft(value.AsInt64(), count).As<long, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> ShiftRightLogicalInteger(Vector256<T> value, int count)
    {
        if (typeof(T) == typeof(float)) return Vector256.ShiftRightLogical(value.AsUInt32(), count).As<uint, T>();
        if (typeof(T) == typeof(double)) return Vector256.ShiftRightLogical(value.AsUInt64(), count).As<ulong, T>();
        throw LaneType.Unsupported<T>();
    }

    /// <summary>Upper 128 bits onto the lower 128, then as <see cref="Width128{T}.FoldSum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldSum(Vector256<T> value) => Width128<T>.FoldSum(value.GetLower() + value.GetUpper());
}

/// <summary>128-bit registers (<see cref="Vector128{T}"/>); only for float and double.</summary>
internal readonly struct Width128<T> : IVectorWidth<Vector128<T>, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector128<T>.Count;

    public static bool IsAccelerated => Vector128.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    public static Vector128<T> Zero => Vector128<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Load(ref readonly T source) => Vector128.LoadUnsafe(in source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<T> value, ref T destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Broadcast(T value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Add(Vector128<T> left, Vector128<T> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Subtract(Vector128<T> left, Vector128<T> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Multiply(Vector128<T> left, Vector128<T> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Divide(Vector128<T> left, Vector128<T> right) => left / right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> MultiplyAdd(Vector128<T> left, Vector128<T> right, Vector128<T> addend)
    {
        if (typeof(T) == typeof(float) && !System.Runtime.Intrinsics.X86.Fma.IsSupported && System.Runtime.Intrinsics.X86.Sse41.IsSupported)
            return FusedWithoutFma(left.AsSingle(), right.AsSingle(), addend.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(float))
            return Vector128.FusedMultiplyAdd(left.AsSingle(), right.AsSingle(), addend.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector128.FusedMultiplyAdd(left.AsDouble(), right.AsDouble(), addend.AsDouble()).As<double, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> MultiplyAddEstimate(Vector128<T> left, Vector128<T> right, Vector128<T> addend)
    {
        if (typeof(T) == typeof(float))
            return Vector128.MultiplyAddEstimate(left.AsSingle(), right.AsSingle(), addend.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector128.MultiplyAddEstimate(left.AsDouble(), right.AsDouble(), addend.AsDouble()).As<double, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Min(Vector128<T> left, Vector128<T> right) => Vector128.Min(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Max(Vector128<T> left, Vector128<T> right) => Vector128.Max(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> And(Vector128<T> left, Vector128<T> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Or(Vector128<T> left, Vector128<T> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Xor(Vector128<T> left, Vector128<T> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> LessThan(Vector128<T> left, Vector128<T> right) => Vector128.LessThan(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> EqualTo(Vector128<T> left, Vector128<T> right) => Vector128.Equals(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Select(Vector128<T> mask, Vector128<T> whenSet, Vector128<T> whenClear) => Vector128.ConditionalSelect(mask, whenSet, whenClear);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> AddInteger(Vector128<T> left, Vector128<T> right)
    {
        if (typeof(T) == typeof(float)) return (left.AsInt32() + right.AsInt32()).As<int, T>();
        if (typeof(T) == typeof(double)) return (left.AsInt64() + right.AsInt64()).As<long, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> ShiftLeftInteger(Vector128<T> value, int count)
    {
        if (typeof(T) == typeof(float)) return Vector128.ShiftLeft(value.AsInt32(), count).As<int, T>();
        if (typeof(T) == typeof(double)) return Vector128.ShiftLeft(value.AsInt64(), count).As<long, T>();
        throw LaneType.Unsupported<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> ShiftRightLogicalInteger(Vector128<T> value, int count)
    {
        if (typeof(T) == typeof(float)) return Vector128.ShiftRightLogical(value.AsUInt32(), count).As<uint, T>();
        if (typeof(T) == typeof(double)) return Vector128.ShiftRightLogical(value.AsUInt64(), count).As<ulong, T>();
        throw LaneType.Unsupported<T>();
    }

    /// <summary>Four floats: (l0 + l2) + (l1 + l3); two doubles: l0 + l1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldSum(Vector128<T> value)
    {
        if (Vector128<T>.Count == 4)
            return (value.GetElement(0) + value.GetElement(2)) + (value.GetElement(1) + value.GetElement(3));
        return value.GetElement(0) + value.GetElement(1);
    }

    /// <summary>
    /// fma(a, b, c) for floats on x86 without FMA (below AVX2, or DOTNET_EnableAVX2=0), exactly, in doubles:
    /// a·b is exact in double; s = a·b + c is rounded to double, and made round-to-odd (when inexact and its
    /// last bit is even, moved one ulp towards the exact sum, whose side TwoSum's error term tells); a
    /// round-to-odd double has more than 24 + 2 bits, so rounding it to float gives the correctly rounded
    /// fused result (Boldo and Melquiond 2008). Most sums need none of that: see below.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> FusedWithoutFma(Vector128<float> a, Vector128<float> b, Vector128<float> c)
    {
        var (aLow, aHigh) = Vector128.Widen(a);
        var (bLow, bHigh) = Vector128.Widen(b);
        var (cLow, cHigh) = Vector128.Widen(c);
        Vector128<double> pLow = aLow * bLow, pHigh = aHigh * bHigh;
        Vector128<double> sLow = pLow + cLow, sHigh = pHigh + cHigh;
        // Rounding twice (to double, then to float) can only go wrong when the double sum lies exactly on a
        // float halfway point (its 29 bits below float precision are 1000...0) or among the float subnormals,
        // whose halfway points lie elsewhere; otherwise the sum rounded to float is already the fused result.
        if (Vector128.EqualsAll(Doubtful(sLow) | Doubtful(sHigh), Vector128<long>.Zero))
            return Vector128.Narrow(sLow, sHigh);
        return Vector128.Narrow(RoundToOdd(pLow, cLow), RoundToOdd(pHigh, cHigh));
    }

    /// <summary>All bits set in the lanes where rounding the double <paramref name="s"/> to float might differ from rounding the exact sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<long> Doubtful(Vector128<double> s)
    {
        Vector128<long> halfway = Vector128.Equals(s.AsInt64() & Vector128.Create(0x1FFF_FFFFL), Vector128.Create(0x1000_0000L));
        Vector128<double> magnitude = Vector128.Abs(s);
        Vector128<double> subnormal = Vector128.LessThan(magnitude, Vector128.Create(1.1754943508222875e-38)) & Vector128.GreaterThan(magnitude, Vector128<double>.Zero);
        return halfway | subnormal.AsInt64();
    }

    /// <summary>p + c rounded to odd (p and c doubles, p exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<double> RoundToOdd(Vector128<double> p, Vector128<double> c)
    {
        Vector128<double> s = p + c;
        Vector128<double> t = s - p;
        Vector128<double> error = (p - (s - t)) + (c - t);
        // Inexact (error neither zero nor NaN) and even: step the bits of s by one towards the exact sum:
        // +1 when error and s have the same sign (away from zero), -1 otherwise.
        Vector128<long> inexact = (Vector128.LessThan(error, Vector128<double>.Zero) | Vector128.GreaterThan(error, Vector128<double>.Zero)).AsInt64();
        Vector128<long> even = Vector128.Equals(s.AsInt64() & Vector128<long>.One, Vector128<long>.Zero);
        Vector128<long> sameSign = Vector128.Equals((s.AsInt64() ^ error.AsInt64()) & Vector128.Create(long.MinValue), Vector128<long>.Zero);
        Vector128<long> step = (sameSign & Vector128<long>.One) | (~sameSign & Vector128.Create(-1L));
        return (s.AsInt64() + (step & inexact & even)).AsDouble();
    }
}

/// <summary>One lane: plain <typeparamref name="T"/> arithmetic, for machines without SIMD and for T without vector support (Half).</summary>
internal readonly struct WidthScalar<T> : IVectorWidth<T, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => 1;

    public static bool IsAccelerated => true;

    public static T Zero => T.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Load(ref readonly T source) => source;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(T value, ref T destination) => destination = value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Broadcast(T value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Add(T left, T right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Subtract(T left, T right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Multiply(T left, T right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Divide(T left, T right) => left / right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MultiplyAdd(T left, T right, T addend) => T.FusedMultiplyAdd(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MultiplyAddEstimate(T left, T right, T addend) => T.MultiplyAddEstimate(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Min(T left, T right) => T.Min(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Max(T left, T right) => T.Max(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T And(T left, T right) => FromBits(Bits(left) & Bits(right));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Or(T left, T right) => FromBits(Bits(left) | Bits(right));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Xor(T left, T right) => FromBits(Bits(left) ^ Bits(right));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T LessThan(T left, T right) => left < right ? AllBits : T.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T EqualTo(T left, T right) => left == right ? AllBits : T.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Select(T mask, T whenSet, T whenClear) => FromBits((Bits(mask) & Bits(whenSet)) | (~Bits(mask) & Bits(whenClear)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T AddInteger(T left, T right) => FromBits(Bits(left) + Bits(right));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ShiftLeftInteger(T value, int count) => FromBits(Bits(value) << count);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ShiftRightLogicalInteger(T value, int count)
    {
        if (typeof(T) == typeof(float)) return FromBits((ulong)((uint)Bits(value) >> count));
        return FromBits(Bits(value) >> count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldSum(T value) => value;

    /// <summary>A lane with every bit set (a NaN), the scalar "true" of a comparison.</summary>
    private static T AllBits => FromBits(ulong.MaxValue);

    /// <summary>The lane's bits, zero-extended to 64 (float and double only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Bits(T value)
    {
        if (typeof(T) == typeof(float)) return Unsafe.BitCast<T, uint>(value);
        if (typeof(T) == typeof(double)) return Unsafe.BitCast<T, ulong>(value);
        throw new NotSupportedException($"bit operations on {typeof(T).Name}");
    }

    /// <summary>The lane whose bits are the low bits of <paramref name="bits"/> (float and double only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T FromBits(ulong bits)
    {
        if (typeof(T) == typeof(float)) return Unsafe.BitCast<uint, T>((uint)bits);
        if (typeof(T) == typeof(double)) return Unsafe.BitCast<ulong, T>(bits);
        throw new NotSupportedException($"bit operations on {typeof(T).Name}");
    }
}

/// <summary>
/// The error of a width's float-or-double dispatch reached with another lane type. The engine instantiates the widths
/// only with float and double (its two precisions), so this names the mistake instead of failing silently.
/// </summary>
internal static class LaneType
{
    public static NotSupportedException Unsupported<T>() =>
        new($"{typeof(T).Name} lanes: the vector widths compute only float and double");
}
