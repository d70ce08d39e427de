// ONNX Runtime as the inference peer of `sharpcnn bench`: the same model (the file `sharpcnn export-onnx`
// writes), the same batch sizes and thread count, timed the same way (best of R rounds of at least S
// seconds after a warm-up), one machine-readable line per figure: key<TAB>value<TAB>unit.
//
//   dotnet run -c Release --project bench/OnnxRuntimePeer -- MODEL.onnx [--threads N] [--batch 256,1] [--seconds S] [--rounds R]
//
// ONNX Runtime runs with every graph optimisation on (ORT_ENABLE_ALL), N intra-op threads, one inter-op
// thread and sequential execution: its fastest setting for one model on N cores.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

if (args.Length < 1 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: OnnxRuntimePeer MODEL.onnx [--threads N] [--batch 256,1] [--seconds S] [--rounds R]");
    return 2;
}
string model = args[0];
int threads = Environment.ProcessorCount;
int[] batches = [256, 1];
double seconds = 2;
int rounds = 3;
for (int i = 1; i < args.Length; i += 2)
{
    string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--threads": threads = int.Parse(value, CultureInfo.InvariantCulture); break;
        case "--batch": batches = value.Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray(); break;
        case "--seconds": seconds = double.Parse(value, CultureInfo.InvariantCulture); break;
        case "--rounds": rounds = int.Parse(value, CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}
if (!File.Exists(model))
{
    Console.Error.WriteLine($"no ONNX model at {model}");
    return 1;
}

using var options = new SessionOptions
{
    GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    IntraOpNumThreads = threads,
    InterOpNumThreads = 1,
    ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
};
using var session = new InferenceSession(model, options);
var input = session.InputMetadata.Single();
int[] shape = input.Value.Dimensions; // [N, C, H, W] with N symbolic (-1)
Console.Error.WriteLine($"# ONNX Runtime {OrtEnv.Instance().GetVersionString()}, {threads} intra-op threads, input {input.Key} [{string.Join(", ", shape)}]");
var random = new Random(1);
foreach (int batch in batches)
{
    var dims = shape.ToArray();
    dims[0] = batch;
    var tensor = new DenseTensor<float>(dims);
    var span = tensor.Buffer.Span;
    for (int j = 0; j < span.Length; j++) span[j] = (float)random.NextDouble();
    var feeds = new[] { NamedOnnxValue.CreateFromTensor(input.Key, tensor) };
    void Run()
    {
        using var results = session.Run(feeds);
    }
    var warm = Stopwatch.StartNew();
    for (int k = 0; k < 3 || warm.Elapsed.TotalSeconds < Math.Min(1, seconds / 2); k++) Run();
    double best = 0;
    for (int r = 0; r < rounds; r++)
    {
        long count = 0;
        var clock = Stopwatch.StartNew();
        do
        {
            Run();
            count++;
        }
        while (clock.Elapsed.TotalSeconds < seconds);
        best = Math.Max(best, count * batch / clock.Elapsed.TotalSeconds);
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"infer_b{batch}\t{best:R}\tsamples/s"));
}
return 0;
