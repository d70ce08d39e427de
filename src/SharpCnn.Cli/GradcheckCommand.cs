using System.CommandLine;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn gradcheck</c>: the numerical gradient check of any model, layer by layer, end to end and the loss.</summary>
internal static class GradcheckCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("A preset, a spec string or a saved .scnn model");
        var input = new Option<string>("--input") { Description = "Input shape CxHxW of the checked samples (1x28x28: the bundled digits are used as inputs)", DefaultValueFactory = _ => "1x28x28", HelpName = "CxHxW" };
        var batch = new Option<int?>("--batch") { Description = "Samples in the checked batch (default 2; 4 for a model with batch norm, whose statistics over 2 samples are degenerate)", HelpName = "N" }.AtLeast(1);
        var samples = new Option<int>("--samples") { Description = "Elements checked per tensor, spread over the batch (0 = every element)", DefaultValueFactory = _ => 60, HelpName = "N" }.AtLeast(0);
        var tolerance = new Option<double>("--tolerance") { Description = "Largest relative error that passes", DefaultValueFactory = _ => 1e-6, HelpName = "TOL" }.Positive();
        var step = new Option<double>("--step") { Description = "Central-difference step h (relative)", DefaultValueFactory = _ => 1e-4, HelpName = "H" }.Positive();
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial weights, upstream gradients and samples", DefaultValueFactory = _ => 1, HelpName = "N" };
        var init = CommonOptions.Init();
        var loss = CommonOptions.Loss();
        var command = new Command("gradcheck", "Check every layer's backward pass against central differences, in double precision")
        {
            model, input, batch, samples, tolerance, step, seed, init, loss,
        };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            var output = r.InvocationConfiguration.Output;
            var choice = ModelChoice.Resolve(r.GetValue(model)!, r.GetValue(loss), r.GetValue(init));
            var shape = SummaryCommand.ParseShape(r.GetValue(input)!);
            var network = choice.Create<double>(shape, r.GetValue(seed));
            // Over 2 samples a batch-normalised feature is ±1 whatever its input: its gradient is O(ε) and
            // ill-conditioned, and the end-to-end check drowns in it. 4 samples make it well-posed.
            int n = r.GetValue(batch) ?? (network.Layers.Any(l => l.Spec.Kind.Traits.HasFlag(Layers.LayerTraits.BatchStatistics)) ? 4 : 2);
            var (x, labels, source) = Inputs(network.InputShape, network.Classes, n, r.GetValue(seed));
            var options = new GradientCheckOptions
            {
                MaxElementsPerTensor = r.GetValue(samples),
                Tolerance = r.GetValue(tolerance),
                Step = r.GetValue(step),
                Seed = r.GetValue(seed),
            };
            output.WriteLine($"gradient check of {choice.Label}: {network.Spec}");
            output.WriteLine($"double precision, batch {n} ({source}), {(options.MaxElementsPerTensor == 0 ? "every element" : $"up to {options.MaxElementsPerTensor} elements per tensor")}, step {options.Step:G2}, tolerance {options.Tolerance:G2}");
            var report = GradientChecker.CheckModel(network, x, labels, n, options);
            output.WriteLine($"{"layer",-42} {"tensor",-7} {"checked",13} {"max rel err",12} {"redraws",8}  verdict");
            foreach (var t in report.Tensors)
                output.WriteLine($"{Truncate(t.Layer, 42),-42} {t.Tensor,-7} {$"{t.Checked}/{t.Total}",13} {t.MaxRelativeError,12:E2} {t.Redraws,8}  {(t.Passed ? "ok" : "FAIL")}");
            output.WriteLine(report.Passed
                ? $"PASS: largest relative error {report.MaxRelativeError:E2} <= {options.Tolerance:G2} over {report.Tensors.Count} tensors"
                : $"FAIL: {report.Tensors.Count(t => !t.Passed)} of {report.Tensors.Count} tensors exceed {options.Tolerance:G2} (largest {report.MaxRelativeError:E2})");
            return report.Passed ? 0 : 1;
        }));
        return command;
    }

    /// <summary>Real digits when the model takes 28x28 grey images, seeded random values otherwise.</summary>
    private static (double[] X, int[] Labels, string Source) Inputs(Shape shape, int classes, int n, ulong seed)
    {
        var labels = new int[n];
        var x = new double[n * shape.Size];
        var (_, test) = BundledDigits.Load();
        if (shape == test.Shape && n <= test.Count)
        {
            test.CopyBatch<double>(Enumerable.Range(0, n).ToArray(), x, labels);
            for (int i = 0; i < n; i++) labels[i] %= classes;
            return (x, labels, "bundled test digits");
        }
        var rng = new Rng(seed);
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextDouble();
        for (int i = 0; i < n; i++) labels[i] = i % classes;
        return (x, labels, "random inputs");
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
