using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

/// <summary>
/// The Winograd convolution (F(2x2, 5x5) and F(4x4, 3x3)) against WinogradReference bit for bit, and against the plain-loop
/// direct convolution (ConvolutionReference, in double) within the tolerance docs/MATH.md states ("Winograd"), on odd shapes:
/// odd heights and widths, outputs that are not whole tiles, channel counts that are not a multiple of any vector width,
/// same, valid and one-sided padding, batches of 1, 3 and 17, tiles transformed in uneven pieces. CI reruns this class
/// on each narrower width, so the bits are the same on Vector512, Vector256, Vector128 and the scalar path.
/// </summary>
public sealed class WinogradConvolutionTests
{
    /// <summary>Float: |y − y_ref| ≤ this · the largest Σ_{c,i,j} |w·x| among the outputs of the same tile (docs/MATH.md).</summary>
    public const double FloatTolerance = 1e-5;

    /// <summary>Double: the same bound, 1e-14 (the direct path's test allows 1e-12 relative to the output).</summary>
    public const double DoubleTolerance = 1e-14;

    public static TheoryData<int, int, int, int, int, string, int> Shapes => new()
    {
        { 32, 14, 14, 64, 5, "same", 3 },
        { 3, 7, 9, 5, 5, "same", 17 },
        { 9, 11, 13, 17, 3, "p1", 1 },
        { 13, 6, 5, 33, 5, "valid", 3 },
        { 8, 9, 9, 40, 3, "p2-0-1-3", 1 },
        { 1, 4, 4, 1, 3, "valid", 17 },
        { 17, 10, 7, 19, 5, "p1-2-0-3", 3 },
        { 20, 8, 8, 16, 3, "same", 1 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GivesTheReferencesBitsInFloat(int cin, int h, int w, int cout, int r, string padding, int n) =>
        Check<float>(cin, h, w, cout, r, padding, n, FloatTolerance);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GivesTheReferencesBitsInDouble(int cin, int h, int w, int cout, int r, string padding, int n) =>
        Check<double>(cin, h, w, cout, r, padding, n, DoubleTolerance);

    private static void Check<T>(int cin, int h, int w, int cout, int r, string padding, int n, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var spec = (ConvSpec)ConvKind.Instance.Parse(new LayerToken($"conv{r}x{r}x{cout}:{padding}", 1))!;
        var layer = (Conv2d<T>)spec.Create<T>();
        layer.Build(new Shape(cin, h, w));
        var rng = new Random(cin * 1000 + cout * 10 + r);
        var weights = layer.Weight.Value;
        for (int i = 0; i < weights.Length; i++) weights[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        var x = new T[n * cin * h * w];
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        var (top, bottom, left, right) = layer.ResolvedPadding;
        int ho = layer.OutputShape.Height, wo = layer.OutputShape.Width;

        var conv = new WinogradConvolution<T>(cin, h, w, cout, r, top, bottom, left, right, WinogradConvolution<T>.DefaultBlock);
        Assert.Equal(ho, conv.OutHeight);
        Assert.Equal(wo, conv.OutWidth);
        conv.Pack(weights);
        int bs = conv.Block, m = conv.TileSize, columns = conv.TileColumns;
        var actual = new T[n * cout * ho * wo];
        for (int s = 0; s < n; s++)
        {
            var padded = new T[conv.PaddedSize];
            for (int c = 0; c < cin; c++)
                for (int p = 0; p < h; p++)
                    for (int q = 0; q < w; q++)
                        padded[((p + top) * conv.PaddedWidth + q + left) * cin + c] = x[((s * cin + c) * h + p) * w + q];
            // Tile rows in uneven pieces: the split must not matter.
            for (int t0 = 0, piece = 1; t0 < conv.TileRows; t0 += piece, piece++)
            {
                int tileRows = Math.Min(piece, conv.TileRows - t0), tiles = tileRows * columns;
                int rows = Math.Min((t0 + tileRows) * m, ho) - t0 * m;
                var v = new T[WinogradConvolution<T>.Frequencies * tiles * cin];
                conv.TransformInput(padded, t0, tileRows, v);
                var products = new T[WinogradConvolution<T>.Frequencies * tiles * bs];
                var tile = new T[rows * wo * bs];
                for (int ob = 0; ob < conv.Blocks; ob++)
                {
                    conv.Multiply(v, tiles, ob, products);
                    conv.TransformOutput(products, t0, tileRows, rows, tile);
                    for (int l = 0; l < bs && ob * bs + l < cout; l++)
                        for (int i = 0; i < rows; i++)
                            for (int j = 0; j < wo; j++)
                                actual[((s * cout + ob * bs + l) * ho + t0 * m + i) * wo + j] = tile[(i * wo + j) * bs + l];
                }
            }
        }
        var expected = new T[actual.Length];
        WinogradReference.Forward<T>(x, weights, expected, n, cin, h, w, cout, r, top, left, ho, wo);
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.AsSpan())), "Winograd differs from WinogradReference");

        // Against the direct convolution in double.
        var xd = x.Select(double.CreateChecked).ToArray();
        var wd = weights.Select(double.CreateChecked).ToArray();
        var reference = new double[actual.Length];
        ConvolutionReference.Forward(xd, wd, new double[cout], reference, n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        var magnitude = new double[actual.Length];
        ConvolutionReference.Forward(xd.Select(Math.Abs).ToArray(), wd.Select(Math.Abs).ToArray(), new double[cout], magnitude, n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        // A tile's outputs share its rounding errors (an output whose window is all padding is not exactly 0), so the bound is
        // the largest Σ|w·x| among the outputs of the same tile and channel: the union of their windows is the tile's input.
        double worst = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            int j = i % wo, u = i / wo % ho, plane = i / (ho * wo);
            double bound = 0;
            for (int p = u / m * m; p < Math.Min(ho, u / m * m + m); p++)
                for (int q = j / m * m; q < Math.Min(wo, j / m * m + m); q++) bound = Math.Max(bound, magnitude[(plane * ho + p) * wo + q]);
            double error = Math.Abs(reference[i] - double.CreateChecked(actual[i]));
            worst = Math.Max(worst, error / Math.Max(bound, double.Epsilon));
            Assert.True(error <= tolerance * bound, $"output {i}: {actual[i]} vs reference {reference[i]} (largest Σ|w·x| in its tile = {bound})");
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{typeof(T).Name}: largest |y − y_ref| / Σ|w·x| = {worst:e2}");
    }

    [Theory]
    [InlineData(32, 14, 14)]
    [InlineData(17, 5, 9)]
    [InlineData(8, 3, 8)]
    [InlineData(7, 4, 13)]
    [InlineData(23, 2, 7)]
    [InlineData(64, 6, 11)]
    public void RowChannelsLastCopiesEveryValueOfTheRowAndNothingElse(int channels, int height, int width)
    {
        // Against the plain loop, every row, with sentinels around the target: the 8 x 8 blocks moved back at the edges
        // must neither miss a value nor write past the row.
        var maps = Enumerable.Range(0, channels * height * width).Select(i => (float)i + 0.5f).ToArray();
        const int margin = 9;
        for (int row = 0; row < height; row++)
        {
            var target = Enumerable.Repeat(-7f, channels * width + 2 * margin).ToArray();
            WinogradConvolution<float>.RowChannelsLast(maps, channels, height, width, row, ref target[margin]);
            for (int i = 0; i < margin; i++)
            {
                Assert.Equal(-7f, target[i]);
                Assert.Equal(-7f, target[margin + channels * width + i]);
            }
            for (int c = 0; c < channels; c++)
                for (int v = 0; v < width; v++)
                    Assert.Equal(maps[(c * height + row) * width + v], target[margin + v * channels + c]);
        }
    }

    [Fact]
    public void TheFilterMatricesMakeExactOneDimensionalCorrelations()
    {
        // y_i = Σ_k g_k d_{i+k} = Aᵀ[(G g) ⊙ (Bᵀ d)]: checked on integer data, exactly in double (every value is a small dyadic or a sixth).
        var rng = new Random(2);
        foreach (int r in new[] { 3, 5 })
        {
            int m = 7 - r;
            var g = Enumerable.Range(0, r).Select(_ => (double)rng.Next(-9, 10)).ToArray();
            var d = Enumerable.Range(0, 6).Select(_ => (double)rng.Next(-9, 10)).ToArray();
            var gg = new double[6];
            for (int j = 0; j < 6; j++)
                for (int k = 0; k < r; k++) gg[j] += WinogradConvolution<double>.FilterMatrix(j, k, r) * g[k];
            var bd = new double[6];
            WinogradConvolution<double>.InputTransform<double, WidthScalar<double>>(d[0], d[1], d[2], d[3], d[4], d[5],
                out bd[0], out bd[1], out bd[2], out bd[3], out bd[4], out bd[5]);
            var e = new double[6];
            for (int j = 0; j < 6; j++) e[j] = gg[j] * bd[j];
            var y = new double[4];
            WinogradConvolution<double>.OutputTransform<double, WidthScalar<double>>(m, e[0], e[1], e[2], e[3], e[4], e[5], out y[0], out y[1], out y[2], out y[3]);
            for (int i = 0; i < m; i++)
            {
                double expected = 0;
                for (int k = 0; k < r; k++) expected += g[k] * d[i + k];
                Assert.True(Math.Abs(expected - y[i]) <= 1e-12 * (1 + Math.Abs(expected)), $"r = {r}, output {i}: {y[i]} vs {expected}");
            }
        }
    }

    [Theory]
    [InlineData(18, 7, 5, false, 1)]
    [InlineData(18, 7, 5, true, 2)]
    [InlineData(5, 19, 3, false, 2)]
    [InlineData(5, 19, 3, true, 1)]
    [InlineData(32, 64, 5, true, 2)]
    public void PacksEveryFilterAsTransformFilterDoesInFloat(int cin, int cout, int r, bool flipped, int threads)
    {
        // Pack (four filters per Vector256<double>, one filter at a time for what is left) against TransformFilter on each
        // filter alone, bit for bit: with and without the flip and transpose, output channels that are not a multiple of four
        // or of the block, on 1 and 2 threads.
        var conv = new WinogradConvolution<float>(cin, 9, 9, cout, r, r / 2, r / 2, r / 2, r / 2, WinogradConvolution<float>.DefaultBlock, flipped);
        var rng = new Random(cin + 100 * cout + r);
        var weights = Enumerable.Range(0, cin * cout * r * r).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int saved = Parallelism.ThreadCount;
        try
        {
            Parallelism.ThreadCount = threads;
            conv.Pack(weights);
        }
        finally
        {
            Parallelism.ThreadCount = saved;
        }
        int taps = r * r, bs = conv.Block, frequency = conv.Blocks * cin * bs;
        var g = new double[taps];
        var u = new double[WinogradConvolution<float>.Frequencies];
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
            {
                // The filter from input channel c to output channel o: w[o, c] as given, or with the flip, w[c, o] turned by 180 degrees.
                for (int i = 0; i < taps; i++)
                    g[i] = flipped ? weights[(c * cout + o) * taps + taps - 1 - i] : weights[(o * cin + c) * taps + i];
                WinogradConvolution<float>.TransformFilter(g, r, u);
                int at = (o / bs * cin + c) * bs + o % bs;
                for (int xi = 0; xi < u.Length; xi++)
                    Assert.True(BitConverter.SingleToUInt32Bits((float)u[xi]) == BitConverter.SingleToUInt32Bits(conv.Packed[at + xi * frequency]),
                        $"filter {o} <- {c}, frequency {xi}: {conv.Packed[at + xi * frequency]} vs {(float)u[xi]}");
            }
    }

    [Fact]
    public void TransformsTheFiltersAgainOnlyWhenTheWeightsChange()
    {
        var conv = new WinogradConvolution<float>(8, 6, 6, 3, 5, 2, 2, 2, 2, WinogradConvolution<float>.DefaultBlock);
        var weights = Enumerable.Range(0, 3 * 8 * 25).Select(i => (float)i / 100).ToArray();
        conv.Pack(weights);
        var before = conv.Packed.ToArray();
        conv.Pack(weights);
        Assert.Equal(before, conv.Packed.ToArray());
        weights[7] = 100;
        conv.Pack(weights);
        Assert.NotEqual(before, conv.Packed.ToArray());
    }

    [Fact]
    public void TheFixedRuleTakesFloat5x5And3x3Stride1WithSixteenInputChannels()
    {
        Assert.True(WinogradConvolution<float>.Chooses(32, 14, 14, 5, 5, 1));
        Assert.True(WinogradConvolution<float>.Chooses(16, 28, 28, 3, 3, 1));
        Assert.False(WinogradConvolution<double>.Chooses(32, 14, 14, 5, 5, 1));
        Assert.False(WinogradConvolution<float>.Chooses(1, 28, 28, 5, 5, 1));
        Assert.False(WinogradConvolution<float>.Chooses(8, 28, 28, 3, 3, 1));
        Assert.False(WinogradConvolution<float>.Chooses(15, 28, 28, 5, 5, 1));
        Assert.False(WinogradConvolution<float>.Chooses(32, 14, 14, 5, 5, 2));
        Assert.False(WinogradConvolution<float>.Chooses(32, 14, 14, 5, 3, 1));
        Assert.False(WinogradConvolution<float>.Chooses(32, 14, 14, 7, 7, 1));
        Assert.False(WinogradConvolution<float>.Chooses(32, 3, 14, 5, 5, 1));
    }
}
