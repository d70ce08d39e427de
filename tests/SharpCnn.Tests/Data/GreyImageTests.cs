using SharpCnn.Data;

namespace SharpCnn.Tests.Data;

public class GreyImageTests
{
    private static GreyImage Row(params byte[] values) => new(values.Length, 1, values);

    [Fact]
    public void ColourBecomesBt601LumaAndTransparencyIsWhitePaper()
    {
        byte[] rgba =
        [
            255, 0, 0, 255,     // red: 0.299 * 255 = 76.2
            0, 255, 0, 255,     // green: 149.7
            0, 0, 255, 255,     // blue: 29.1
            0, 0, 0, 0,         // fully transparent: white paper
            0, 0, 0, 128,       // half-transparent black: 255 * (1 - 128/255) = 127
            200, 200, 200, 255,
        ];
        var grey = GreyImage.FromPng(new PngImage(6, 1, PngColorType.Rgba, 8, rgba));
        Assert.Equal([76, 150, 29, 255, 127, 200], grey.Pixels.ToArray());
    }

    [Fact]
    public void InvertMirrorsTheGreyLevels()
    {
        Assert.Equal([255, 0, 155], Row(0, 255, 100).Invert().Pixels.ToArray());
        Assert.Equal([0, 255, 100], Row(0, 255, 100).Invert().Invert().Pixels.ToArray());
    }

    [Fact]
    public void ShrinkingByAWholeFactorAveragesBlocks()
    {
        var image = new GreyImage(4, 2, [0, 10, 20, 30, 40, 50, 60, 71]);
        var half = image.Resize(2, 1);
        Assert.Equal([25, 45], half.Pixels.ToArray()); // (0+10+40+50)/4 = 25, (20+30+60+71)/4 = 45.25
    }

    [Fact]
    public void ShrinkingByAFractionalFactorWeighsPartlyCoveredPixels()
    {
        // 3 -> 2: target 0 covers source [0, 1.5): 1 of pixel 0 and 0.5 of pixel 1.
        Assert.Equal([(byte)Math.Round((0 * 1 + 90 * 0.5) / 1.5), (byte)Math.Round((90 * 0.5 + 180 * 1) / 1.5)], Row(0, 90, 180).Resize(2, 1).Pixels.ToArray());
    }

    [Fact]
    public void EnlargingInterpolatesBetweenPixelCentresAndClampsAtTheEdges()
    {
        // 2 -> 4: centres map to -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        Assert.Equal([0, 64, 191, 255], Row(0, 255).Resize(4, 1).Pixels.ToArray());
        var tall = new GreyImage(1, 2, [0, 255]).Resize(1, 4);
        Assert.Equal([0, 64, 191, 255], tall.Pixels.ToArray());
    }

    [Fact]
    public void SameSizeIsTheImageItselfAndConstantImagesStayConstant()
    {
        var image = new GreyImage(3, 2, [1, 2, 3, 4, 5, 6]);
        Assert.Same(image, image.Resize(3, 2));
        var flat = new GreyImage(7, 5, Enumerable.Repeat((byte)77, 35).ToArray());
        foreach (var (w, h) in new[] { (3, 2), (28, 28), (7, 1), (13, 11) })
            Assert.All(flat.Resize(w, h).Pixels.ToArray(), v => Assert.Equal(77, v));
    }

    [Theory]
    [InlineData(28, 28)]
    [InlineData(84, 28)]
    [InlineData(56, 28)]
    [InlineData(100, 28)]
    [InlineData(28, 100)]
    [InlineData(5, 3)]
    [InlineData(1, 9)]
    public void WeightsOfEveryTargetPixelSumToOne(int source, int target)
    {
        var weights = GreyImage.Weights(source, target);
        Assert.Equal(target, weights.Length);
        Assert.All(weights, w =>
        {
            Assert.Equal(1.0, w.Sum(p => p.Weight), 1e-12);
            Assert.All(w, p => Assert.InRange(p.Source, 0, source - 1));
        });
    }

    [Fact]
    public void ADigitEnlargedThenShrunkBackStaysClose()
    {
        var digit = GreyImage.FromDataSet(BundledDigits.Load().Test, 0);
        var back = digit.Resize(84, 84).Resize(28, 28);
        double meanError = Enumerable.Range(0, 784).Average(i => Math.Abs(back.Pixels[i] - digit.Pixels[i]));
        Assert.True(meanError < 8, $"mean error {meanError:F2} grey levels");
    }

    [Fact]
    public void BadSizesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new GreyImage(2, 2, new byte[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GreyImage(0, 2, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => Row(1, 2).Resize(0, 1));
    }
}
