using System.Runtime.InteropServices;
using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

/// <summary>
/// A convolution's weight-gradient product with its im2col columns packed straight from the padded maps
/// (Gemm.MultiplyPacked with Im2ColPanels) against the plain way (Im2Col.GatherBlock into a stored column matrix, then
/// Gemm.Multiply with it transposed), bit for bit: odd maps and kernels, one-sided padding, blocks of taps that start
/// inside a map and are not a multiple of 8 or of any panel width, outputs narrower than 8 (the value-by-value path), and
/// more than 256 output positions (the depth slices then start inside an output row). CI reruns this class on each
/// narrower SIMD width and on the scalar path.
/// </summary>
public sealed class Im2ColPanelsTests
{
    [Theory]
    [InlineData(32, 14, 14, 5, 5, 2, 2, 2, 2, 0, 800, 64)]     // the seed CNN's second convolution, all of its taps
    [InlineData(32, 14, 14, 5, 5, 2, 2, 2, 2, 200, 200, 64)]   // one of the four column ranges two threads take
    [InlineData(1, 28, 28, 5, 5, 2, 2, 2, 2, 0, 25, 32)]       // the first: 784 positions, depth slices inside rows
    [InlineData(3, 9, 11, 3, 5, 1, 0, 2, 1, 7, 29, 5)]         // taps from inside the first map, 29 of them
    [InlineData(2, 6, 5, 3, 3, 0, 0, 0, 0, 1, 17, 3)]          // 'valid', an output 4 x 3: every row shorter than 8
    [InlineData(5, 7, 13, 4, 2, 3, 0, 1, 0, 13, 27, 9)]        // even kernel, padding on one side only
    [InlineData(4, 17, 19, 3, 3, 1, 1, 1, 1, 0, 36, 17)]       // 323 positions: two depth slices
    public void GivesTheBitsOfTheStoredColumns(int channels, int height, int width, int kh, int kw, int padTop, int padBottom,
        int padLeft, int padRight, int firstRow, int rowCount, int outChannels)
    {
        Check<float>(channels, height, width, kh, kw, padTop, padBottom, padLeft, padRight, firstRow, rowCount, outChannels);
        Check<double>(channels, height, width, kh, kw, padTop, padBottom, padLeft, padRight, firstRow, rowCount, outChannels);
    }

    private static void Check<T>(int channels, int height, int width, int kh, int kw, int padTop, int padBottom,
        int padLeft, int padRight, int firstRow, int rowCount, int outChannels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hp = height + padTop + padBottom, wp = width + padLeft + padRight, outHeight = hp - kh + 1, outWidth = wp - kw + 1;
        int positions = outHeight * outWidth, taps = kh * kw;
        var rng = new Random(channels * 31 + height * 7 + firstRow);
        var x = new T[channels * height * width];
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateTruncating(rng.NextDouble() * 2 - 1);
        var dy = new T[outChannels * positions];
        for (int i = 0; i < dy.Length; i++) dy[i] = T.CreateTruncating(rng.NextDouble() * 2 - 1);
        // C starts from other values, accumulated into (as the weight gradient is, sample after sample) and overwritten.
        var start = new T[outChannels * (rowCount + 3)];
        for (int i = 0; i < start.Length; i++) start[i] = T.CreateTruncating(rng.NextDouble());

        foreach (bool accumulate in new[] { true, false })
        {
            // The plain way: the stored block of columns, then the product with it transposed.
            var cols = new T[rowCount * positions];
            Im2Col.GatherBlock<T>(x, height, width, kh, kw, 1, padTop, padLeft, outHeight, outWidth, firstRow, rowCount, 0, positions, cols);
            var expected = (T[])start.Clone();
            Gemm.Multiply<T>(false, true, outChannels, rowCount, positions, dy, positions, cols, positions, expected, rowCount + 3, accumulate);

            // The panels from the padded maps that hold the block's taps.
            int c0 = firstRow / taps, c1 = (firstRow + rowCount - 1) / taps + 1;
            var padded = new T[(c1 - c0) * hp * wp];
            Im2Col.PadMaps<T>(x, height, width, c0, c1, padTop, padLeft, hp, wp, padded);
            var actual = (T[])start.Clone();
            var panels = new Im2ColPanels<T>(padded, hp, wp, kh, kw, outHeight, outWidth, firstRow - c0 * taps);
            Gemm.MultiplyPacked(outChannels, rowCount, positions, dy, positions, ref panels, actual, rowCount + 3, accumulate);

            Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.AsSpan())),
                $"{typeof(T).Name}, accumulate {accumulate}: the packed columns' product differs from the stored columns'");
        }
    }

    [Fact]
    public void RefusesAnOutputThatDoesNotFitThePaddedMaps()
    {
        var padded = new float[2 * 6 * 6];
        Assert.Throws<ArgumentException>(() => new Im2ColPanels<float>(padded, 6, 6, 3, 3, 5, 4, 0));
        Assert.Throws<ArgumentException>(() => new Im2ColPanels<float>(padded, 6, 6, 3, 3, 4, 5, 0));
    }

    [Fact]
    public void RefusesABlockOfTapsBeyondTheMapsGiven()
    {
        // Two 6 x 6 maps hold 18 taps of a 3x3 kernel; a product over 19 would read past them.
        var padded = new float[2 * 6 * 6];
        var dy = new float[16];
        var c = new float[19];
        var panels = new Im2ColPanels<float>(padded, 6, 6, 3, 3, 4, 4, 0);
        bool threw = false;
        try
        {
            Gemm.MultiplyPacked(1, 19, 16, dy, 16, ref panels, c, 19, accumulate: false);
        }
        catch (ArgumentException)
        {
            threw = true;
        }
        Assert.True(threw);
    }
}
