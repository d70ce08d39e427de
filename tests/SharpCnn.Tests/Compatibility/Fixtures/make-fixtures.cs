// Writes the compatibility fixtures: model files and a checkpoint as main at dfa091c wrote them, and
// what that build computed from them (outputs on 20 bundled test digits; the weights after resuming the
// checkpoint to its end), once per SIMD width. Run from this folder with the build of dfa091c:
//   dotnet run make-fixtures.cs -- .                         (and again under DOTNET_EnableAVX512=0,
//   DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 for the other widths)
// Kept for the record: later builds must load these files (CompatibilityFixtureTests); this script is not
// part of the build. Since the canonical arithmetic order (docs/DETERMINISM.md) the expected figures are the
// width-free {name}.txt files, which that build computed once for every width; the per-width files written
// here stay as the record the tests compare them with (rounding only).
#:project ../../../../src/SharpCnn/SharpCnn.csproj
using System.Runtime.Intrinsics;
using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

string dir = args.Length > 0 ? args[0] : ".";
string width = Vector512.IsHardwareAccelerated ? "v512" : Vector256.IsHardwareAccelerated ? "v256" : Vector128.IsHardwareAccelerated ? "v128" : "scalar";
var (train, test) = BundledDigits.Load();
var small = train.Take(600);

(string Name, string Spec, string Loss, bool Double)[] models =
[
    ("every-kind-float", "conv5x5x6:same,tanh,subsample2,conv5x5x16:table=lenet5,sigmoid,meanpool2:pad,batchnorm:m0.2,crop3x3,flatten,dense20,dropout0.3,relu,identity,dense10,minusmax", "ce", false),
    ("strided-double", "conv3x3x4:s2:p1,relu,maxpool3:s2:pad,flatten,batchnorm:e0.001,dense10,divnorm", "softmax-mse", true),
    ("dense-mse-float", "dense16,sigmoid,dense10", "mse", false),
];

bool writeModels = !File.Exists(Path.Combine(dir, "every-kind-float.scnn"));
foreach (var m in models)
{
    string path = Path.Combine(dir, m.Name + ".scnn");
    if (m.Double) Run<double>(m.Name, m.Spec, m.Loss, path);
    else Run<float>(m.Name, m.Spec, m.Loss, path);
}

void Run<T>(string name, string spec, string loss, string path) where T : unmanaged, IFloatingPointIeee754<T>
{
    if (writeModels)
    {
        var network = ModelSpec.Parse(spec).Build<T>(train.Shape, loss);
        Initializer.Apply(network.Layers, InitScheme.He, new Rng(7));
        var trainer = new Trainer<T>(network, new TrainingOptions { Epochs = 1, BatchSize = 32, Optimizer = "adam", LearningRate = 0.003, Seed = 5 });
        trainer.Fit(small);
        ModelFile.Save(network, path, new Dictionary<string, string> { ["made_by"] = "main at dfa091c (make-fixtures.cs)" });
    }
    var loaded = ModelFile.Load<T>(path);
    OnnxExport.Save(loaded, Path.Combine(dir, name + ".onnx")); // the ONNX export of that build, byte for byte
    loaded.Training = false;
    var input = new T[20 * loaded.InputShape.Size];
    test.CopyBatch<T>(Enumerable.Range(0, 20).ToArray(), input, new int[20]);
    var output = loaded.Forward(input, 20);
    using var writer = new StreamWriter(Path.Combine(dir, $"{name}.outputs.{width}.txt"));
    foreach (var v in output) writer.WriteLine(BitsOf(v));
}

// The checkpoint: Adam, cosine schedule, weight decay, stop threshold, batch norm and dropout, written at step 13 of 2 epochs.
string checkpoint = Path.Combine(dir, "checkpoint-float.scnn");
var options = new TrainingOptions
{
    Epochs = 2, BatchSize = 16, Optimizer = "adam", LearningRate = 0.002, Schedule = LearningRateSchedule.Cosine,
    WeightDecay = 1e-4, StopEpsilon = 1e-9, Seed = 11, CheckpointEvery = 13, CheckpointPath = checkpoint,
};
var data = train.Take(200);
if (writeModels)
{
    var network = ModelSpec.Parse("conv3x3x4:same,batchnorm,relu,maxpool2,flatten,dropout0.25,dense10").Build<float>(train.Shape, "ce");
    Initializer.Apply(network.Layers, InitScheme.He, new Rng(3));
    var capped = new Trainer<float>(network, options with { MaxSteps = 13 });
    capped.Fit(data, test.Take(50));
}
var resumed = Trainer<float>.Resume(checkpoint, o => o with { MaxSteps = 0, CheckpointEvery = 0, CheckpointPath = null });
resumed.Fit(data, test.Take(50));
using (var writer = new StreamWriter(Path.Combine(dir, $"checkpoint-float.resumed-weights.{width}.txt")))
    foreach (var p in resumed.Network.Parameters)
        foreach (var v in p.Value) writer.WriteLine(BitsOf(v));
Console.WriteLine($"{width}: done");

static string BitsOf<T>(T value) where T : unmanaged => value switch
{
    float f => BitConverter.SingleToUInt32Bits(f).ToString("x8"),
    double d => BitConverter.DoubleToUInt64Bits(d).ToString("x16"),
    _ => throw new NotSupportedException(),
};
