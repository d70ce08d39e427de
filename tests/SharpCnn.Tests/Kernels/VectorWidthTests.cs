// IVectorWidth.MultiplyAdd is fused on every width; on x86 without FMA, Width128 computes it through doubles
// rounded to odd (VectorWidth.cs). Both held to the correctly rounded Math.FusedMultiplyAdd, bit for bit, on
// random operands of every magnitude and on cases built so that a plain double sum rounded twice would be wrong.
using System.Runtime.Intrinsics;
using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

public class VectorWidthTests
{
    [Fact]
    public void ALaneTypeOtherThanFloatOrDoubleIsRefusedByName()
    {
        // The widths dispatch on float and double; Half satisfies the constraint but has no such path.
        var e = Assert.Throws<NotSupportedException>(() => Width128<Half>.MultiplyAdd(default, default, default));
        Assert.Equal("Half lanes: the vector widths compute only float and double", e.Message);
        Assert.Throws<NotSupportedException>(() => Width256<Half>.MultiplyAdd(default, default, default));
        Assert.Throws<NotSupportedException>(() => Width512<Half>.MultiplyAdd(default, default, default));
    }

    [Fact]
    public void FloatFmaWithoutFmaHardwareIsCorrectlyRounded()
    {
        var random = new Random(11);
        var cases = new List<(float A, float B, float C)>();
        for (int i = 0; i < 200_000; i++)
            cases.Add((RandomFloat(random), RandomFloat(random), RandomFloat(random)));
        // Double rounding traps: a·b + c lands just beside a float halfway point, e.g. (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24,
        // plus a c of -2^-24 ± 2^-60: the exact sum is a hair off the halfway point 1 + 2^-11 + 2^-24 - 2^-24.
        float one = 1 + MathF.Pow(2, -12);
        foreach (double tiny in new[] { 0, Math.Pow(2, -60), -Math.Pow(2, -60), Math.Pow(2, -70) })
        {
            cases.Add((one, one, (float)(-Math.Pow(2, -24) + tiny)));
            cases.Add((one, one, (float)(Math.Pow(2, -25) + tiny)));
            cases.Add((-one, one, (float)(-Math.Pow(2, -25) - tiny)));
        }
        for (int i = 0; i < 200_000; i++)
        {
            // a·b with 48 significant bits, c cancelling most of it: rounding of the sum matters.
            float a = 1 + random.Next(1 << 23) * MathF.Pow(2, -23), b = 1 + random.Next(1 << 23) * MathF.Pow(2, -23);
            float c = -(a * b) * (random.Next(2) == 0 ? 1 : 0.5f) + random.Next(-4, 5) * MathF.Pow(2, -24);
            cases.Add((a, b, c));
        }
        float[] special = [0f, -0f, float.Epsilon, -float.Epsilon, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-30f, 3e38f];
        foreach (float a in special) foreach (float b in special) foreach (float c in special) cases.Add((a, b, c));

        // The cases can tell: rounding the double sum straight to float (twice rounded) is wrong on some of them.
        Assert.Contains(cases, k => !float.IsNaN(k.A * k.B + k.C) && (float)((double)k.A * k.B + k.C) != MathF.FusedMultiplyAdd(k.A, k.B, k.C));

        for (int i = 0; i + 4 <= cases.Count; i += 4)
        {
            var a = Vector128.Create(cases[i].A, cases[i + 1].A, cases[i + 2].A, cases[i + 3].A);
            var b = Vector128.Create(cases[i].B, cases[i + 1].B, cases[i + 2].B, cases[i + 3].B);
            var c = Vector128.Create(cases[i].C, cases[i + 1].C, cases[i + 2].C, cases[i + 3].C);
            var emulated = Width128<float>.FusedWithoutFma(a, b, c);
            var viaWidth = Width128<float>.MultiplyAdd(a, b, c);
            for (int lane = 0; lane < 4; lane++)
            {
                var (x, y, z) = cases[i + lane];
                float exact = MathF.FusedMultiplyAdd(x, y, z);
                Same(exact, emulated.GetElement(lane), x, y, z);
                Same(exact, viaWidth.GetElement(lane), x, y, z);
                Same(exact, WidthScalar<float>.MultiplyAdd(x, y, z), x, y, z);
            }
        }
    }

    private static void Same(float expected, float actual, float a, float b, float c) =>
        Assert.True(float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
            $"fma({a:R}, {b:R}, {c:R}) = {expected:R}, got {actual:R}");

    private static float RandomFloat(Random random) =>
        (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-140, 120)));
}
