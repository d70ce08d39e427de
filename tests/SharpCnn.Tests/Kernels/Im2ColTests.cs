using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

/// <summary>GatherBlock (the block of the column matrix a parallel partition needs) against the whole-matrix Gather.</summary>
public class Im2ColTests
{
    [Theory]
    [InlineData(1, 5, 5, 3, 3, 1, 1, 1)]
    [InlineData(2, 7, 6, 2, 3, 2, 0, 1)]
    [InlineData(3, 9, 11, 5, 5, 1, 2, 2)]
    [InlineData(1, 8, 8, 4, 4, 3, 1, 2)]
    [InlineData(2, 6, 5, 1, 1, 1, 0, 0)]
    [InlineData(1, 4, 4, 5, 5, 1, 3, 3)]   // kernel larger than the input: some taps never land inside
    [InlineData(3, 14, 14, 5, 5, 1, 2, 2)] // the seed CNN's second convolution
    [InlineData(2, 28, 28, 5, 5, 1, 2, 2)] // and its first (runs of 28: several vectors)
    [InlineData(2, 9, 17, 3, 3, 1, 1, 1)]
    public void EveryBlockEqualsTheSameBlockOfTheWholeMatrix(int c, int h, int w, int kh, int kw, int s, int top, int left)
    {
        int bottom = top, right = left;
        int ho = (h + top + bottom - kh) / s + 1, wo = (w + left + right - kw) / s + 1;
        int k = c * kh * kw, p = ho * wo;
        var random = new Random(c + h * 7 + w * 13);
        float[] x = Enumerable.Range(0, c * h * w).Select(_ => (float)random.NextDouble() + 0.5f).ToArray();
        float[] cols = new float[k * p];
        Im2Col.Gather<float>(x, c, h, w, kh, kw, s, top, left, ho, wo, cols);
        for (int trial = 0; trial < 40; trial++)
        {
            int r0 = random.Next(k), rows = random.Next(1, k - r0 + 1);
            int q0 = random.Next(p), count = random.Next(1, p - q0 + 1);
            if (trial == 0) (r0, rows, q0, count) = (0, k, 0, p);
            float[] block = Enumerable.Repeat(float.NaN, rows * count).ToArray();
            Im2Col.GatherBlock<float>(x, h, w, kh, kw, s, top, left, ho, wo, r0, rows, q0, count, block);
            // The fast whole-row path (stride 1, every position) needs slack after the block and a padded copy.
            if (trial % 2 == 0) (q0, count) = (0, p);
            float[] withSlack = Enumerable.Repeat(float.NaN, rows * count + Im2Col.Slack).ToArray();
            float[] padded = Enumerable.Repeat(float.NaN, c * (h + 2 * top) * (w + 2 * left) + Im2Col.Slack).ToArray();
            Im2Col.GatherBlock<float>(x, h, w, kh, kw, s, top, left, ho, wo, r0, rows, q0, count, withSlack, padded, top, left);
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < count; q++)
                    Assert.True(cols[(r0 + r) * p + q0 + q] == withSlack[r * count + q],
                        $"fast path: row {r0 + r}, position {q0 + q}: block {withSlack[r * count + q]}, whole matrix {cols[(r0 + r) * p + q0 + q]}");
            if (trial % 2 == 0)
            {
                // Where the whole-row path applies, its last vector spills into the slack: proof that it ran.
                bool applies = System.Numerics.Vector.IsHardwareAccelerated && s == 1 && wo >= System.Numerics.Vector<float>.Count && wo % System.Numerics.Vector<float>.Count != 0;
                if (applies) Assert.False(float.IsNaN(withSlack[rows * count]), "the whole-row path did not run");
                continue;
            }
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < count; q++)
                    Assert.True(cols[(r0 + r) * p + q0 + q] == block[r * count + q],
                        $"row {r0 + r}, position {q0 + q}: block {block[r * count + q]}, whole matrix {cols[(r0 + r) * p + q0 + q]}");
        }
    }

    [Theory]
    [InlineData(1, 5, 5, 3, 3, 1, 1, 1)]
    [InlineData(2, 7, 6, 2, 3, 2, 0, 1)]
    [InlineData(3, 9, 11, 5, 5, 1, 2, 2)]
    [InlineData(1, 8, 8, 4, 4, 3, 1, 2)]
    [InlineData(2, 19, 21, 5, 5, 1, 2, 2)]  // runs longer than a vector
    [InlineData(1, 4, 4, 5, 5, 1, 3, 3)]
    public void ScatterAddIsBitIdenticalToThePlainScatter(int c, int h, int w, int kh, int kw, int s, int top, int left)
    {
        int ho = (h + 2 * top - kh) / s + 1, wo = (w + 2 * left - kw) / s + 1;
        int k = c * kh * kw, p = ho * wo;
        var random = new Random(c + h * 3 + w * 5);
        double[] cols = Enumerable.Range(0, k * p).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double[] fast = new double[c * h * w], reference = new double[c * h * w];
        Im2Col.ScatterAdd<double>(cols, c, h, w, kh, kw, s, top, left, ho, wo, fast);
        Im2Col.Scatter<double>(cols, c, h, w, kh, kw, s, top, left, ho, wo, reference);
        Assert.True(reference.AsSpan().SequenceEqual(fast), "ScatterAdd differs from Scatter");
        float[] colsF = cols.Select(v => (float)v).ToArray();
        float[] fastF = new float[c * h * w], referenceF = new float[c * h * w];
        Im2Col.ScatterAdd<float>(colsF, c, h, w, kh, kw, s, top, left, ho, wo, fastF);
        Im2Col.Scatter<float>(colsF, c, h, w, kh, kw, s, top, left, ho, wo, referenceF);
        Assert.True(referenceF.AsSpan().SequenceEqual(fastF), "ScatterAdd differs from Scatter (float)");
    }
}
