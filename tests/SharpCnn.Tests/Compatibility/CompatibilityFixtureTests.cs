using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Model;
using SharpCnn.Training;

namespace SharpCnn.Tests.Compatibility;

/// <summary>
/// Model files and a checkpoint written by main at dfa091c (Fixtures/make-fixtures.cs): they must still load,
/// predict the same bits and resume to the same weights, and export the same ONNX bytes.
///
/// The expected figures are ONE set for every SIMD width (<c>{name}.txt</c>, computed by the build that brought
/// in the canonical arithmetic order of docs/DETERMINISM.md; .ci/run runs this class under every width). The
/// figures dfa091c computed on each width (<c>{name}.v512.txt</c>,
/// <c>.v256</c>, <c>.v128</c>, <c>.scalar</c>) differ from one another, because that build's arithmetic depended on
/// the width; they are kept as the record, and the tests show that the new figures differ from every one of them
/// by rounding only: outputs within 1e-5 (float) or 1e-12 (double) of the outputs' largest magnitude, and the
/// weights after resuming (13 training steps, which amplify rounding) no further from each old width's than
/// twice the largest difference the old widths had among themselves.
/// </summary>
public sealed class CompatibilityFixtureTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Compatibility", "Fixtures");

    /// <summary>The widths dfa091c wrote figures for.</summary>
    private static readonly string[] OldWidths = ["v512", "v256", "v128", "scalar"];

    private static string[] Expected(string name) => File.ReadAllLines(Path.Combine(Folder, $"{name}.txt"));

    private static string[] Old(string name, string width) => File.ReadAllLines(Path.Combine(Folder, $"{name}.{width}.txt"));

    private static double Float(string bits) => BitConverter.UInt32BitsToSingle(Convert.ToUInt32(bits, 16));

    private static double Double(string bits) => BitConverter.UInt64BitsToDouble(Convert.ToUInt64(bits, 16));

    [Theory]
    [InlineData("every-kind-float", "conv5x5x6:same,tanh,subsample2,conv5x5x16:table=lenet5,sigmoid,meanpool2:pad,batchnorm:m0.2,crop3x3,flatten,dense20,dropout0.3,relu,identity,dense10,minusmax", "ce")]
    [InlineData("dense-mse-float", "dense16,sigmoid,dense10", "mse")]
    public void FloatModelsLoadAndPredictTheSameBits(string name, string spec, string loss) =>
        LoadsAndPredicts<float>(name, spec, loss, v => BitConverter.SingleToUInt32Bits(v).ToString("x8"), Float, 1e-5);

    [Fact]
    public void DoubleModelLoadsAndPredictsTheSameBits() =>
        LoadsAndPredicts<double>("strided-double", "conv3x3x4:s2:p1,relu,maxpool3:s2:pad,flatten,batchnorm:e0.001,dense10,divnorm", "softmax-mse",
            v => BitConverter.DoubleToUInt64Bits(v).ToString("x16"), Double, 1e-12);

    private static void LoadsAndPredicts<T>(string name, string spec, string loss, Func<T, string> bits, Func<string, double> value, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string path = Path.Combine(Folder, name + ".scnn");
        var network = ModelFile.Load<T>(path);
        Assert.Equal(spec, network.Spec);
        Assert.Equal(loss, network.Loss.Name);
        network.Training = false;
        var (_, test) = BundledDigits.Load();
        var input = new T[20 * network.InputShape.Size];
        test.CopyBatch<T>(Enumerable.Range(0, 20).ToArray(), input, new int[20]);
        var output = network.Forward(input, 20).ToArray();
        Assert.Equal(Expected(name + ".outputs"), output.Select(bits).ToArray());
        Assert.Equal(File.ReadAllBytes(Path.Combine(Folder, name + ".onnx")), OnnxExport.ToBytes(network)); // the same ONNX file, byte for byte

        // The change from dfa091c's figures is rounding: on every width, within the tolerance of the largest output.
        double[] now = Expected(name + ".outputs").Select(value).ToArray();
        foreach (string width in OldWidths)
        {
            double[] old = Old(name + ".outputs", width).Select(value).ToArray();
            Assert.Equal(old.Length, now.Length);
            double scale = old.Max(Math.Abs), worst = old.Zip(now, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= tolerance * scale, $"{name} against dfa091c's {width} outputs: largest difference {worst:E2}, more than {tolerance:E0} x {scale:G4}");
        }
    }

    [Fact]
    public void CheckpointResumesToTheSameWeights()
    {
        var (train, test) = BundledDigits.Load();
        var trainer = Trainer<float>.Resume(Path.Combine(Folder, "checkpoint-float.scnn"), o => o with { MaxSteps = 0, CheckpointEvery = 0, CheckpointPath = null });
        Assert.Equal(13, trainer.Optimizer.StepCount);
        var result = trainer.Fit(train.Take(200), test.Take(50), TestContext.Current.CancellationToken);
        Assert.Equal(26, result.Steps);
        var weights = trainer.Network.Parameters.SelectMany(p => p.Value).Select(v => BitConverter.SingleToUInt32Bits(v).ToString("x8")).ToArray();
        Assert.Equal(Expected("checkpoint-float.resumed-weights"), weights);

        // Rounding only: no further from any old width's weights than the old widths were from one another (x 2).
        double[] now = weights.Select(Float).ToArray();
        double[][] old = OldWidths.Select(w => Old("checkpoint-float.resumed-weights", w).Select(Float).ToArray()).ToArray();
        double spread = 0;
        for (int a = 0; a < old.Length; a++)
            for (int b = a + 1; b < old.Length; b++)
                spread = Math.Max(spread, old[a].Zip(old[b], (x, y) => Math.Abs(x - y)).Max());
        Assert.True(spread > 0, "the old widths' weights differ (that is why the figures were per width)");
        for (int w = 0; w < old.Length; w++)
        {
            double worst = old[w].Zip(now, (x, y) => Math.Abs(x - y)).Max();
            Assert.True(worst <= 2 * spread, $"against dfa091c's {OldWidths[w]} weights: largest difference {worst:E2}, the old widths differed by up to {spread:E2}");
        }
    }
}
