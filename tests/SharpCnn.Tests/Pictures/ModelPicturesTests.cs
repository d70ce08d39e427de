using SharpCnn.Pictures;
using SharpCnn.Data;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Pictures;

public sealed class ModelPicturesTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-pictures-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static (byte R, byte G, byte B) At(PixelCanvas canvas, int x, int y)
    {
        long o = ((long)y * canvas.Width + x) * 3;
        return (canvas.Rgb[o], canvas.Rgb[o + 1], canvas.Rgb[o + 2]);
    }

    private static Network<double> Conv(int kernels)
    {
        var network = ModelSpec.Parse($"conv3x3x{kernels},relu,maxpool2,flatten,dense10").Build<double>(new Shape(1, 8, 8));
        Initializer.Apply(network.Layers, InitScheme.He, new Rng(1));
        return network;
    }

    [Fact]
    public void KernelTilesShowZeroAsGreyThePeakAsWhiteAndMinusThePeakAsBlack()
    {
        var network = Conv(2);
        var w = ((Conv2d<double>)network.Layers[0]).Weight.Value;
        Array.Clear(w);
        w[0] = 0.5;   // kernel 0, (0, 0): its peak
        w[1] = -0.5;  // kernel 0, (0, 1)
        w[2] = 0.25;  // kernel 0, (0, 2): half way to white
        var canvas = ModelPictures.DrawKernels(network);
        // 3x3 kernels are drawn at 40 / 3 = 13 pixels per weight; the first tile's top-left is at the margin, below the two text lines.
        int top = 12 + 14 + 6 + 7 + 8;
        Assert.Equal(((byte)255, (byte)255, (byte)255), At(canvas, 12 + 6, top + 6));
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(canvas, 12 + 13 + 6, top + 6));
        Assert.Equal(((byte)191, (byte)191, (byte)191), At(canvas, 12 + 26 + 6, top + 6));
        Assert.Equal(((byte)128, (byte)128, (byte)128), At(canvas, 12 + 6, top + 13 + 6));
        // Kernel 1 is all zero: plain grey, in the second column of a 2-wide grid.
        Assert.Equal(((byte)128, (byte)128, (byte)128), At(canvas, 12 + 39 + 2 + 20, top + 20));
    }

    [Fact]
    public void AFirstDenseLayerOnImagesIsDrawnAsTemplatesAndOtherNetworksAreRefused()
    {
        var fc = ModelSpec.Parse("flatten,dense10").Build<float>(new Shape(1, 28, 28));
        var weights = ModelPictures.FirstWeights(fc)!.Value;
        Assert.Equal((10, 1, 28, 28), (weights.Outputs, weights.Channels, weights.Height, weights.Width));
        Assert.True(ModelPictures.DrawKernels(fc).Width >= 4 * 28);

        var vector = ModelSpec.Parse("dense5,relu,dense3").Build<float>(new Shape(20, 1, 1));
        Assert.Null(ModelPictures.FirstWeights(vector));
        Assert.Throws<ArgumentException>(() => ModelPictures.DrawKernels(vector));
    }

    [Fact]
    public void FeatureMapsShowTheInputStretchedFromBlackToWhite()
    {
        var network = Conv(3);
        var sample = Enumerable.Range(0, 64).Select(i => (double)(i % 8)).ToArray(); // columns 0..7
        var canvas = ModelPictures.DrawFeatureMaps(network, sample);
        // The input block: 8x8 maps drawn at 56 / 8 = 7 pixels per value, below the title and the block label.
        int top = 12 + 14 + 10 + 14 + 6;
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(canvas, 12 + 3, top + 3));
        Assert.Equal(((byte)255, (byte)255, (byte)255), At(canvas, 12 + 7 * 7 + 3, top + 3));
        Assert.Equal(((byte)146, (byte)146, (byte)146), At(canvas, 12 + 4 * 7 + 3, top + 3)); // 4/7 of the way
        Assert.Throws<ArgumentException>(() => ModelPictures.DrawFeatureMaps(network, new double[63]));
    }

    [Fact]
    public void ConfusionCellsAreShadedByTheirRowFraction()
    {
        var confusion = new int[3, 3] { { 8, 2, 0 }, { 0, 10, 0 }, { 5, 0, 5 } };
        var canvas = ModelPictures.DrawConfusion(new Evaluation(23 / 30.0, 0.5, confusion, 30));
        int cell = 28, left = 12 + (6 * 4 - 1) + 6 + 4, top = 12 + 14 + 10 + 7 + 6 + 7 + 6;
        Assert.Equal(ModelPictures.Shade(0.8), At(canvas, left + 1, top + 1));
        Assert.Equal(ModelPictures.Shade(0.2), At(canvas, left + cell + 1, top + 1));
        Assert.Equal(ModelPictures.Shade(0.0), At(canvas, left + 2 * cell + 1, top + 1));
        Assert.Equal(ModelPictures.Shade(1.0), At(canvas, left + cell + 1, top + cell + 1));
        Assert.Equal(ModelPictures.Shade(0.5), At(canvas, left + 1, top + 2 * cell + 1));
        Assert.True(ModelPictures.Shade(1.0).B < ModelPictures.Shade(0.5).B && ModelPictures.Shade(0.5).B < 255);
    }

    [Fact]
    public void SaveAllWritesReadablePngs()
    {
        var network = Conv(4);
        var evaluation = new Evaluation(0.5, 1.2, new int[10, 10], 0);
        var written = ModelPictures.SaveAll(dir, network, evaluation, new double[64]);
        Assert.Equal(ModelPictures.FileNames, written.Select(Path.GetFileName));
        foreach (string png in written)
            Assert.True(PngReader.Read(png).Width > 50, png);
    }

    [Fact]
    public void TextUsesTheBuiltInFontAndUnknownCharactersShowAsAQuestionMark()
    {
        var canvas = new PixelCanvas(40, 10);
        canvas.Text(0, 0, "1", (0, 0, 0));
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(canvas, 2, 0));   // the top of the 1's stem
        Assert.Equal(((byte)255, (byte)255, (byte)255), At(canvas, 0, 0));
        var other = new PixelCanvas(40, 10);
        other.Text(0, 0, "\u00e9", (0, 0, 0));
        var question = new PixelCanvas(40, 10);
        question.Text(0, 0, "?", (0, 0, 0));
        Assert.Equal(question.Rgb, other.Rgb);
        Assert.Equal(6 * 3 - 1, PixelCanvas.TextWidth("abc"));
    }

    [Fact]
    public void AnXBetweenDigitsStaysSmallElsewhereItIsACapital()
    {
        static byte[] Draw(string text)
        {
            var canvas = new PixelCanvas(30, 8);
            canvas.Text(0, 0, text, (0, 0, 0));
            return canvas.Rgb;
        }
        static bool Dark(byte[] rgb, int x, int y) => rgb[(y * 30 + x) * 3] == 0;
        var size = Draw("5x5");
        Assert.False(Dark(size, 6, 0));  // the small x has empty top rows
        Assert.True(Dark(size, 6, 2));
        var word = Draw("MAx");
        Assert.True(Dark(word, 12, 0));  // capital X reaches the top row
    }
}
