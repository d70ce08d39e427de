using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

/// <summary>
/// The direct convolution kernel against the convolution layer's own forward pass (im2col + GEMM; for a float shape the layer
/// runs by Winograd, the same layer with a connection table that connects everything), bit for bit, and
/// against the plain-loop reference within rounding, on odd shapes: strides 1-3, kernels 1x1 to 5x5 and 2x3, valid,
/// same and explicit padding, channel counts that are not a multiple of the block, any width (CI reruns this class
/// on each narrower width).
/// </summary>
public sealed class DirectConvolutionTests
{
    public static TheoryData<int, int, int, int, int, int, int, string> Shapes => new()
    {
        { 1, 28, 28, 32, 5, 5, 1, "same" },
        { 32, 14, 14, 64, 5, 5, 1, "same" },
        { 3, 7, 9, 5, 2, 3, 2, "valid" },
        { 5, 8, 6, 17, 3, 3, 3, "p1" },
        { 2, 5, 5, 3, 1, 1, 1, "valid" },
        { 4, 9, 9, 33, 5, 5, 1, "same" },
        { 7, 11, 10, 9, 4, 4, 2, "same" },
        { 6, 13, 12, 40, 3, 3, 1, "p2-0-1-3" },
        { 11, 6, 19, 2, 1, 1, 2, "p1" },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GivesTheLayersBitsInFloat(int cin, int h, int w, int cout, int kh, int kw, int stride, string padding) =>
        Check<float>(cin, h, w, cout, kh, kw, stride, padding, 1e-4);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GivesTheLayersBitsInDouble(int cin, int h, int w, int cout, int kh, int kw, int stride, string padding) =>
        Check<double>(cin, h, w, cout, kh, kw, stride, padding, 1e-12);

    private static void Check<T>(int cin, int h, int w, int cout, int kh, int kw, int stride, string padding, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var spec = (ConvSpec)ConvKind.Instance.Parse(new LayerToken($"conv{kh}x{kw}x{cout}" + (stride > 1 ? $":s{stride}" : "") + ":" + padding, 1))!;
        var layer = (Conv2d<T>)spec.Create<T>();
        layer.Build(new Shape(cin, h, w));
        if (layer.ForwardUsesWinograd)
        {
            // The layer runs Winograd for this shape; with a connection table that connects everything it keeps im2col + GEMM,
            // whose bits the direct kernel gives (the plan's exact path for such layers).
            var all = new bool[cout, cin];
            for (int o = 0; o < cout; o++)
                for (int c = 0; c < cin; c++) all[o, c] = true;
            layer = new Conv2d<T>(cout, kh, kw, stride, spec.Padding, all);
            layer.Build(new Shape(cin, h, w));
            Assert.False(layer.ForwardUsesWinograd);
        }
        var rng = new Random(cin * 1000 + cout);
        foreach (var p in layer.Parameters)
            for (int i = 0; i < p.Length; i++) p.Value[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        const int n = 2;
        var x = new T[n * layer.InputShape.Size];
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        var expected = new T[n * layer.OutputShape.Size];
        layer.Reserve(n);
        layer.Forward(x, expected, n);

        var (top, bottom, left, right) = layer.ResolvedPadding;
        var conv = new DirectConvolution<T>(cin, h, w, cout, kh, kw, stride, top, bottom, left, right);
        Assert.Equal(layer.OutputShape.Height, conv.OutHeight);
        Assert.Equal(layer.OutputShape.Width, conv.OutWidth);
        conv.Pack(layer.Weight.Value);
        int ho = conv.OutHeight, wo = conv.OutWidth, bs = conv.Block;
        var actual = new T[expected.Length];
        var tile = new T[ho * wo * bs];
        for (int s = 0; s < n; s++)
        {
            var padded = new T[conv.PaddedSize];
            for (int c = 0; c < cin; c++)
                for (int r = 0; r < h; r++)
                    x.AsSpan(((s * cin + c) * h + r) * w, w).CopyTo(padded.AsSpan((c * conv.PaddedHeight + r + top) * conv.PaddedWidth + left));
            for (int ob = 0; ob < conv.Blocks; ob++)
            {
                // Rows in uneven pieces: the split must not matter.
                for (int r0 = 0, piece = 1; r0 < ho; r0 += piece, piece++)
                {
                    int rows = Math.Min(piece, ho - r0);
                    conv.Compute(padded, ob, r0, rows, tile);
                    for (int l = 0; l < bs && ob * bs + l < cout; l++)
                        for (int r = 0; r < rows; r++)
                            for (int v = 0; v < wo; v++)
                            {
                                int o = ob * bs + l;
                                actual[((s * cout + o) * ho + r0 + r) * wo + v] = tile[(r * wo + v) * bs + l] + layer.Bias.Value[o];
                            }
                }
            }
        }
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.AsSpan())), "direct convolution differs from the layer's forward pass");

        var reference = new double[expected.Length];
        ConvolutionReference.Forward(x.Select(double.CreateChecked).ToArray(), layer.Weight.Value.Select(double.CreateChecked).ToArray(),
            layer.Bias.Value.Select(double.CreateChecked).ToArray(), reference, n, cin, h, w, cout, kh, kw, stride, top, left, ho, wo);
        for (int i = 0; i < reference.Length; i++)
            Assert.True(Math.Abs(reference[i] - double.CreateChecked(actual[i])) <= tolerance * (1 + Math.Abs(reference[i])), $"output {i}: {actual[i]} vs reference {reference[i]}");
    }

    [Fact]
    public void RepacksOnlyWhenTheWeightsChange()
    {
        var conv = new DirectConvolution<float>(2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1);
        var weights = Enumerable.Range(0, 3 * 2 * 9).Select(i => (float)i / 10).ToArray();
        conv.Pack(weights);
        var padded = Enumerable.Range(0, conv.PaddedSize).Select(i => (float)(i % 7)).ToArray();
        var before = new float[conv.OutHeight * conv.OutWidth * conv.Block];
        conv.Compute(padded, 0, 0, conv.OutHeight, before);
        weights[5] = 100;
        conv.Pack(weights);
        var after = new float[before.Length];
        conv.Compute(padded, 0, 0, conv.OutHeight, after);
        Assert.NotEqual(before, after);
    }

    [Theory]
    [InlineData(1, 3136, 1024)]
    [InlineData(1, 800, 70)]
    [InlineData(1, 37, 5)]
    [InlineData(1, 513, 129)]
    public void RowProductGivesTheGemmsBits(int m, int k, int outputs)
    {
        var rng = new Random(k);
        var x = Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var w = Enumerable.Range(0, outputs * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var expected = new float[outputs];
        Gemm.Multiply(false, true, 1, outputs, k, x, k, w, k, expected, outputs, accumulate: false);
        var actual = new float[outputs];
        // Uneven column ranges: each gives its columns' bits.
        for (int j = 0, piece = 1; j < outputs; j += piece, piece += 7)
            RowProduct.MultiplyTransposed<float>(x, w, k, actual, j, Math.Min(piece, outputs - j));
        Assert.Equal(expected, actual);
        var packed = new float[RowProduct.PackedLength<float>(outputs, k)];
        int groups = (outputs + RowProduct.GroupRows<float>() - 1) / RowProduct.GroupRows<float>();
        RowProduct.Pack<float>(w, outputs, k, packed, 0, groups);
        var fromPacked = new float[outputs];
        for (int q = 0; q < groups; q += 2) RowProduct.MultiplyPacked<float>(x, packed, outputs, k, fromPacked, q, Math.Min(2, groups - q));
        Assert.Equal(expected, fromPacked);
        var xd = x.Select(v => (double)v).ToArray();
        var wd = w.Select(v => (double)v).ToArray();
        var expectedD = new double[outputs];
        Gemm.Multiply(false, true, 1, outputs, k, xd, k, wd, k, expectedD, outputs, accumulate: false);
        var actualD = new double[outputs];
        RowProduct.MultiplyTransposed<double>(xd, wd, k, actualD, 0, outputs);
        Assert.Equal(expectedD, actualD);
    }
}
