// The dense layer's one-sample backward pass with plain SGD folded in, against its plain reference and against
// what the unfused pass computes (Gemm for dx and ∂W, then weight decay and the SGD step): bit for bit, on shapes
// with one and several depth slices, column counts that are not whole vectors and more than one column chunk,
// on 1, 2 and 3 threads. Run under DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 too (.ci/run).
using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

[Collection(ThreadCountCollection.Name)]
public class FusedSgdKernelsTests
{
    public static TheoryData<int, int> Shapes() => new()
    {
        // Several depth slices of rows (more than 256 rows) are cut by rows on 2 and 3 threads, the others by columns;
        // 520 x 4099: three slices and more than one column chunk per slice.
        { 1, 1 }, { 3, 7 }, { 10, 17 }, { 7, 64 }, { 300, 33 }, { 257, 1100 }, { 600, 65 }, { 40, 2049 }, { 520, 4099 },
    };

    private static T[] Random<T>(Rng rng, int length, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++) values[i] = T.CreateChecked((rng.NextDouble() * 2 - 1) * scale);
        // Awkward values: signed zeros (the gradient 0 + δ·x keeps Gemm's sign of zero) and an exact zero weight.
        if (length > 2)
        {
            values[0] = T.NegativeZero;
            values[length / 2] = T.Zero;
        }
        return values;
    }

    private static bool SameBits<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : unmanaged =>
        MemoryMarshal.AsBytes(a).SequenceEqual(MemoryMarshal.AsBytes(b));

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TheKernelIsBitIdenticalToItsReferenceOnAnyThreadCount(int m, int d)
    {
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            Check<float>(m, d, seed: (ulong)(m * 31 + d));
            Check<double>(m, d, seed: (ulong)(m * 37 + d));
        }
    }

    /// <summary>A weight, an output gradient δ and an input x for an m x d dense layer, with awkward values (see <see cref="Random{T}"/>).</summary>
    private static (T[] W, T[] Dy, T[] X) Inputs<T>(Rng rng, int m, int d) where T : unmanaged, IFloatingPointIeee754<T> =>
        (Random<T>(rng, m * d, 0.5), Random<T>(rng, m, 1), Random<T>(rng, d, 2));

    private static void Check<T>(int m, int d, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var (w, dy, x) = Inputs<T>(rng, m, d);
        foreach (bool update in new[] { false, true })
        foreach (bool input in new[] { false, true })
        foreach (bool decayed in new[] { false, true })
        {
            var step = new SgdStep<T>(T.CreateChecked(-0.0371), T.CreateChecked(decayed ? 5e-4 : 0), decayed);
            var (w1, w2) = ((T[])w.Clone(), (T[])w.Clone());
            var (dx1, dx2) = (input ? new T[d] : [], input ? new T[d] : []);
            FusedSgdKernels.Dense<T>(w1, m, d, dy, x, dx1, update, step);
            FusedSgdKernels.DenseReference<T>(w2, m, d, dy, x, dx2, update, step);
            Assert.True(SameBits<T>(w2, w1), $"{typeof(T).Name} {m}x{d} update {update} input {input} decay {decayed}: weights differ");
            Assert.True(SameBits<T>(dx2, dx1), $"{typeof(T).Name} {m}x{d} update {update} input {input} decay {decayed}: dx differs");
            if (!update) Assert.True(SameBits<T>(w, w1), "the weights changed without an update");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TheReferenceIsWhatTheUnfusedPassAndTheOptimiserCompute(int m, int d)
    {
        Unfused<float>(m, d, seed: (ulong)(m + d));
        Unfused<double>(m, d, seed: (ulong)(m + 2 * d));
    }

    /// <summary>dx and ∂W by Gemm for one sample (as Dense's backward pass: ∂W accumulated into zeros), then Optimizer.Step's weight decay and Sgd's update.</summary>
    private static void Unfused<T>(int m, int d, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var w = Random<T>(rng, m * d, 0.5);
        var dy = Random<T>(rng, m, 1);
        var x = Random<T>(rng, d, 2);
        foreach (bool decayed in new[] { false, true })
        {
            double lr = 0.0371, decay = decayed ? 5e-4 : 0;
            var expected = (T[])w.Clone();
            var expectedDx = new T[d];
            Gemm.Multiply(false, false, 1, d, m, dy, m, expected, d, expectedDx, d, accumulate: false);
            var gradient = new T[m * d];
            Gemm.Multiply(true, false, m, d, 1, dy, m, x, d, gradient, d, accumulate: true);
            if (decayed) ElementwiseKernels.MultiplyAdd<T>(expected, T.CreateChecked(decay), gradient, gradient);
            ElementwiseKernels.MultiplyAdd<T>(gradient, T.CreateChecked(-lr), expected, expected);

            var actual = (T[])w.Clone();
            var dx = new T[d];
            FusedSgdKernels.DenseReference<T>(actual, m, d, dy, x, dx, update: true, new SgdStep<T>(T.CreateChecked(-lr), T.CreateChecked(decay), decayed));
            Assert.True(SameBits<T>(expectedDx, dx), $"{typeof(T).Name} {m}x{d}: dx differs from Gemm's");
            Assert.True(SameBits<T>(expected, actual), $"{typeof(T).Name} {m}x{d} decay {decayed}: weights differ from the unfused update");
        }
    }

    /// <summary>
    /// The pass without an update (Adam, momentum): ∂W and dx by W's depth slices of rows, each on its owner, bit for bit
    /// what Gemm writes for one sample (∂W stored, or added to the ∂W there, with signed zeros in it) and its reference, on
    /// 2 and 3 threads; shapes of one slice are not cut by rows and are refused.
    /// </summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void TheGradientPassIsGemmsOneSampleProductBitForBit(int m, int d)
    {
        foreach (int threads in new[] { 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            if (FusedSgdKernels.RowSlices(m) < 2)
            {
                Assert.Throws<InvalidOperationException>(() => FusedSgdKernels.Gradient<float>(new float[m * d], m, d, new float[m], new float[d], [], new float[m * d], false));
                continue;
            }
            Gradient<float>(m, d, seed: (ulong)(m * 5 + d));
            Gradient<double>(m, d, seed: (ulong)(m * 7 + d));
        }
    }

    private static void Gradient<T>(int m, int d, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var (w, dy, x) = Inputs<T>(rng, m, d);
        var before = Random<T>(rng, m * d, 0.01); // what ∂W held: its own signed zeros
        foreach (bool accumulate in new[] { false, true })
        foreach (bool input in new[] { false, true })
        {
            var expectedDx = new T[d];
            Gemm.Multiply(false, false, 1, d, m, dy, m, w, d, expectedDx, d, accumulate: false);
            var expected = (T[])before.Clone();
            Gemm.Multiply(true, false, m, d, 1, dy, m, x, d, expected, d, accumulate);
            var (g1, g2) = ((T[])before.Clone(), (T[])before.Clone());
            var (dx1, dx2) = (input ? new T[d] : [], input ? new T[d] : []);
            var w1 = (T[])w.Clone();
            FusedSgdKernels.Gradient<T>(w1, m, d, dy, x, dx1, g1, accumulate);
            FusedSgdKernels.GradientReference<T>(w, m, d, dy, x, dx2, g2, accumulate);
            string what = $"{typeof(T).Name} {m}x{d} accumulate {accumulate} input {input} on {Parallelism.ThreadCount} threads";
            Assert.True(SameBits<T>(expected, g1), $"{what}: ∂W differs from Gemm's");
            Assert.True(SameBits<T>(expected, g2), $"{what}: the reference's ∂W differs from Gemm's");
            if (input)
            {
                Assert.True(SameBits<T>(expectedDx, dx1), $"{what}: dx differs from Gemm's");
                Assert.True(SameBits<T>(expectedDx, dx2), $"{what}: the reference's dx differs from Gemm's");
            }
            Assert.True(SameBits<T>(w, w1), $"{what}: the weights changed");
        }
    }

    [Fact]
    public void TheBiasUpdateIsTheOptimisersOnTheGradientZeroPlusDelta()
    {
        var rng = new Rng(4);
        var b = Random<float>(rng, 37, 1);
        var dy = Random<float>(rng, 37, 1);
        dy[3] = -0f;
        var expected = (float[])b.Clone();
        var gradient = new float[37];
        System.Numerics.Tensors.TensorPrimitives.Add(gradient, dy, gradient); // Dense's one-block ∂b
        ElementwiseKernels.MultiplyAdd<float>(gradient, -0.25f, expected, expected);
        FusedSgdKernels.Bias<float>(b, dy, -0.25f);
        Assert.True(SameBits<float>(expected, b));
    }
}
