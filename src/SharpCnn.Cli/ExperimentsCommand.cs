using System.CommandLine;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using SharpCnn.Data;
using SharpCnn.Cli.Experiments;

namespace SharpCnn.Cli;

/// <summary>
/// <c>sharpcnn experiments</c>: reruns the seeds' experiments (and the ones beyond them) and writes
/// a Markdown table with the seed's figure beside ours, plus a learning-curve SVG per group.
/// </summary>
internal static class ExperimentsCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data("IDX folder (MNIST-named files); default: the bundled 10,000 MNIST digits. The Fashion-MNIST row needs --data " + FashionMnist.DebianFolder);
        var runs = new Option<int>("--runs") { Description = "Seeded runs per experiment (mean ± std)", DefaultValueFactory = _ => 3, HelpName = "N" }.AtLeast(1);
        var quick = new Option<bool>("--quick") { Description = "Every row on a small subset, one pass, one run (for CI; about a minute)" };
        var output = new Option<string>("--out") { Description = "Folder for results.md and the SVG learning curves", DefaultValueFactory = _ => "experiments", HelpName = "DIR" };
        var only = new Option<string?>("--only") { Description = "Comma-separated experiment ids, id prefixes or groups (e.g. t3,fashion); default: all", HelpName = "IDS" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the first run (run r uses seed + r)", DefaultValueFactory = _ => 1, HelpName = "N" };
        var list = new Option<bool>("--list") { Description = "List the experiments and exit" };
        var threads = ThreadsOption.Create();
        var command = new Command("experiments", "Rerun the seeds' experiments: their figures beside ours, as a Markdown table and SVG learning curves")
        {
            data, runs, quick, output, only, seed, list, threads,
        };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            var console = r.InvocationConfiguration.Output;
            ThreadsOption.Apply(r.GetValue(threads));
            var selected = ExperimentCatalog.Select(r.GetValue(only));
            if (r.GetValue(list))
            {
                foreach (var e in selected) console.WriteLine($"{e.Id,-20} {e.Group,-16} {e.Name}");
                return 0;
            }
            var settings = new ExperimentSettings { Runs = r.GetValue(runs), Quick = r.GetValue(quick), Seed = r.GetValue(seed) };
            string? folder = r.GetValue(data);
            var (train, test) = folder is null ? BundledDigits.Load() : MnistFolder.Load(folder);
            bool isFashion = FashionMnist.Matches(train, test);
            string name = folder is null ? "bundled MNIST digits" : isFashion ? "Fashion-MNIST" : folder;
            if (settings.Quick)
            {
                train = train.Take(settings.QuickTrain);
                test = test.Take(settings.QuickTest);
            }
            string label = $"{name}{(settings.Quick ? ", quick subset" : "")} ({train.Count:N0} / {test.Count:N0})";
            var info = new ExperimentRunInfo(DateTime.UtcNow, Machine(), "sharpcnn " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                settings.Quick ? 1 : settings.Runs, settings.Quick, 0);
            console.WriteLine($"{selected.Count} experiments on {label}, {info.Runs} run(s) each; machine: {info.Machine}");
            var clock = Stopwatch.StartNew();
            var outcomes = new List<ExperimentOutcome>();
            foreach (var e in selected)
            {
                var outcome = ExperimentRunner.Run(e, train, test, label, isFashion, settings, line => console.WriteLine("  " + line));
                if (outcome.Skipped is not null) console.WriteLine($"  {e.Id}: skipped: {outcome.Skipped}");
                outcomes.Add(outcome);
            }
            string path = ExperimentReport.Write(r.GetValue(output)!, outcomes, info with { TotalSeconds = clock.Elapsed.TotalSeconds });
            console.WriteLine($"wrote {path} and {outcomes.Select(o => o.Experiment.Group).Distinct().Count()} SVG learning curves ({clock.Elapsed.TotalSeconds:F0} s)");
            return 0;
        }));
        return command;
    }

    private static string Machine()
    {
        string simd = Vector512.IsHardwareAccelerated ? "AVX-512" : Vector256.IsHardwareAccelerated ? "AVX2" : Vector128.IsHardwareAccelerated ? "128-bit SIMD" : "no SIMD";
        return $"{Environment.ProcessorCount} cores, {simd}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }
}
