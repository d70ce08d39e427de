using System.Runtime.Intrinsics;
using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Model;
using SharpCnn.Training;

namespace SharpCnn.Tests.Compatibility;

/// <summary>
/// Model files and a checkpoint written by main at dfa091c (Fixtures/make-fixtures.cs), with what that build
/// computed from them on each SIMD width: they must still load, predict the same bits and resume to the same
/// weights. The figures are per width because that build's arithmetic depended on it.
/// </summary>
public sealed class CompatibilityFixtureTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Compatibility", "Fixtures");

    /// <summary>The widest vector this process runs, as the fixture files name it.</summary>
    private static string Width =>
        Vector512.IsHardwareAccelerated ? "v512" : Vector256.IsHardwareAccelerated ? "v256" : Vector128.IsHardwareAccelerated ? "v128" : "scalar";

    private static string[] Expected(string name) => File.ReadAllLines(Path.Combine(Folder, $"{name}.{Width}.txt"));

    [Theory]
    [InlineData("every-kind-float", "conv5x5x6:same,tanh,subsample2,conv5x5x16:table=lenet5,sigmoid,meanpool2:pad,batchnorm:m0.2,crop3x3,flatten,dense20,dropout0.3,relu,identity,dense10,minusmax", "ce")]
    [InlineData("dense-mse-float", "dense16,sigmoid,dense10", "mse")]
    public void FloatModelsLoadAndPredictTheSameBits(string name, string spec, string loss) =>
        LoadsAndPredicts<float>(name, spec, loss, v => BitConverter.SingleToUInt32Bits(v).ToString("x8"));

    [Fact]
    public void DoubleModelLoadsAndPredictsTheSameBits() =>
        LoadsAndPredicts<double>("strided-double", "conv3x3x4:s2:p1,relu,maxpool3:s2:pad,flatten,batchnorm:e0.001,dense10,divnorm", "softmax-mse",
            v => BitConverter.DoubleToUInt64Bits(v).ToString("x16"));

    private static void LoadsAndPredicts<T>(string name, string spec, string loss, Func<T, string> bits) where T : unmanaged, IFloatingPointIeee754<T>
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
    }
}
