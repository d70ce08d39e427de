using System.Globalization;
using System.Text;
using SharpCnn.Pictures;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Cli.Experiments;

/// <summary>Where and how a set of experiments ran (the header of the report).</summary>
/// <param name="Date">When the run started (UTC).</param>
/// <param name="Machine">The machine, e.g. "2 cores, AVX-512".</param>
/// <param name="Command">The exact command line.</param>
/// <param name="Runs">Seeded runs per experiment.</param>
/// <param name="Quick">True for the CI subset run.</param>
/// <param name="TotalSeconds">Wall time of everything.</param>
public sealed record ExperimentRunInfo(DateTime Date, string Machine, string Command, int Runs, bool Quick, double TotalSeconds);

/// <summary>
/// Writes experiment outcomes as a Markdown report (one summary table, then one section per
/// group with its notes and learning-curve chart) and one SVG chart per group, drawn with
/// <see cref="SvgLineChart"/>.
/// </summary>
public static class ExperimentReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The report's file name inside the output folder.</summary>
    public const string FileName = "results.md";

    /// <summary>Writes <see cref="FileName"/> and one <c>{group}.svg</c> per group into <paramref name="folder"/>; returns the report's path.</summary>
    public static string Write(string folder, IReadOnlyList<ExperimentOutcome> outcomes, ExperimentRunInfo info)
    {
        Directory.CreateDirectory(folder);
        foreach (var group in Groups(outcomes))
        {
            var series = Series(group);
            SvgLineChart.Save(Path.Combine(folder, group[0].Experiment.Group + ".svg"), ShortTitle(group[0].Experiment.GroupTitle),
                "passes over the training set", "accuracy", series);
        }
        string path = Path.Combine(folder, FileName);
        File.WriteAllText(path, Markdown(outcomes, info), new UTF8Encoding(false));
        return path;
    }

    /// <summary>The Markdown report.</summary>
    public static string Markdown(IReadOnlyList<ExperimentOutcome> outcomes, ExperimentRunInfo info)
    {
        var md = new StringBuilder();
        md.AppendLine(info.Quick ? "# SharpCnn experiments (quick CI subset)" : "# SharpCnn experiments: the seeds' figures beside ours");
        md.AppendLine();
        md.AppendLine(Invariant, $"- date: {info.Date:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine(Invariant, $"- machine: {info.Machine}");
        md.AppendLine(Invariant, $"- command: `{info.Command}`");
        md.AppendLine(Invariant, $"- runs per experiment: {info.Runs} (run r is seeded r: initial weights, shuffling, dropout masks); total wall time {Duration(info.TotalSeconds)}");
        md.AppendLine("- ours = test accuracy after the last pass, mean ± sample standard deviation over the runs that did not diverge");
        md.AppendLine("- matched steps = the same training run for as many samples as the seed's one pass over the 60,000 MNIST images (the bundled set has 8,000, so one pass is 7.5x fewer steps)");
        md.AppendLine("- the divergence guard stops a run here only on NaN or infinity (`--explosion-limit 0`), so the rand() rows show what the seeds saw; `sharpcnn train --init uniform` with the default limit stops at step 1, naming layer 8 'dense1024'");
        md.AppendLine();
        md.AppendLine("| experiment | seed figure | ours: mean ± std (runs) | ours, matched steps | data set | epochs | wall time / run |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var o in outcomes)
        {
            var e = o.Experiment;
            string ours = o.Skipped is not null ? "skipped (see notes)" : Accuracy(o.Runs);
            if (o.MeetsTarget is { } met) ours += met ? $" ✓ ≥ {e.Target!.Value.ToString("F3", Invariant)}" : $" ✗ below {e.Target!.Value.ToString("F3", Invariant)}";
            string matched = o.MatchedRuns.Count == 0 ? "—" : $"{Accuracy(o.MatchedRuns)} ({o.MatchedEpochs.ToString("0.##", Invariant)} passes)";
            string wall = o.Runs.Count == 0 ? "—" : Duration(o.Runs.Average(r => r.Seconds));
            md.AppendLine(Invariant, $"| `{e.Id}` {Cell(e.Name)} | {e.SeedFigure ?? "—"} | {ours} | {matched} | {Cell(o.DataLabel)} | {o.Epochs.ToString("0.##", Invariant)} | {wall} |");
        }
        md.AppendLine();
        foreach (var group in Groups(outcomes))
        {
            var first = group[0].Experiment;
            md.AppendLine(Invariant, $"## {first.GroupTitle}");
            md.AppendLine();
            foreach (var o in group)
            {
                var e = o.Experiment;
                md.AppendLine($"- `{e.Id}` ({e.Name}): `{e.Spec}`, loss {e.Loss}, init {Model.Initializer.Name(e.Init)}, {(e.Double ? Precision.Float64 : Precision.Float32).TypeName()}, "
                    + $"batch {e.Options.BatchSize}, {e.Options.Optimizer} lr {e.Options.LearningRate.ToString("G4", Invariant)}"
                    + (e.Options.Schedule.Kind == ScheduleKind.Constant ? "" : $" ({e.Options.Schedule})")
                    + (e.Options.WeightDecay == 0 ? "" : $", weight decay {e.Options.WeightDecay.ToString("G3", Invariant)}") + ".");
                string source = Cell(e.SeedSource.Replace('\t', ' '));
                if (source.Length > 0) md.AppendLine(Invariant, $"  - seed: {source}");
                if (e.Note.Length > 0) md.AppendLine(Invariant, $"  - note: {e.Note}");
                if (o.Skipped is not null) md.AppendLine(Invariant, $"  - skipped: {o.Skipped}");
                foreach (var line in RunDetails(o)) md.AppendLine(Invariant, $"  - {line}");
            }
            md.AppendLine();
            md.AppendLine(Invariant, $"![{ShortTitle(first.GroupTitle)}]({first.Group}.svg)");
            md.AppendLine();
        }
        return md.ToString();
    }

    /// <summary>Per-run facts worth reading: divergence, output scale at the start, stop reasons.</summary>
    private static IEnumerable<string> RunDetails(ExperimentOutcome o)
    {
        var diverged = o.Runs.Where(r => r.Diverged).ToArray();
        if (diverged.Length > 0)
            yield return $"diverged in {diverged.Length} of {o.Runs.Count} runs: " + string.Join("; ", diverged.Select(r => $"seed {r.Seed}: {r.StopReason}"));
        var scales = o.Runs.Select(r => r.InitialMaxOutput).Where(double.IsFinite).ToArray();
        if (scales.Length > 0)
        {
            double max = scales.Max();
            string exp = o.Experiment.Double ? "709.8 (double)" : "88.7 (float)";
            yield return $"largest |output| at step 1 (the first batch, before any update): {max.ToString("G3", Invariant)}"
                + (max > (o.Experiment.Double ? 709.78 : 88.72) ? $", beyond {exp}, where a plain exp(x) softmax overflows to inf and inf/inf = NaN (the seed's NaN); the engine's softmax subtracts the max first and stays finite" : "");
        }
        if (o.Runs.Count > 0 && !o.Runs.All(r => r.Diverged))
            yield return "per run: " + string.Join(", ", o.Runs.Select(r => r.Diverged ? "diverged" : r.Accuracy.ToString("F4", Invariant)));
    }

    private static string Accuracy(IReadOnlyList<ExperimentRun> runs)
    {
        var (mean, std, count) = ExperimentOutcome.Summary(runs);
        if (count == 0)
        {
            long step = runs.Select(r => r.Steps).DefaultIfEmpty().Min() + 1;
            return $"diverged ({runs.Count}/{runs.Count} runs; first at step {step.ToString("N0", Invariant)})";
        }
        string s = count == 1 ? $"{mean.ToString("F4", Invariant)} (1 run)" : $"{mean.ToString("F4", Invariant)} ± {std.ToString("F4", Invariant)} ({count})";
        return count < runs.Count ? s + $", {runs.Count - count} diverged" : s;
    }

    /// <summary>Mean training-window accuracy per row (and mean test accuracy per pass for multi-pass rows).</summary>
    private static List<ChartSeries> Series(IReadOnlyList<ExperimentOutcome> group)
    {
        var series = new List<ChartSeries>();
        foreach (var o in group.Where(o => o.Runs.Count > 0))
        {
            series.Add(new ChartSeries(o.Experiment.Name + (o.Epochs > 1 ? ": train" : ""), Mean(o.Runs.Select(r => r.TrainCurve).ToArray())));
            if (o.Epochs > 1) series.Add(new ChartSeries(o.Experiment.Name + ": test", Mean(o.Runs.Select(r => r.TestCurve).ToArray())));
        }
        return series;
    }

    /// <summary>Point-wise mean of curves recorded at the same positions (a diverged run's shorter curve counts where it exists).</summary>
    private static List<(double X, double Y)> Mean(IReadOnlyList<CurvePoint>[] curves)
    {
        int length = curves.Length == 0 ? 0 : curves.Max(c => c.Count);
        var mean = new List<(double, double)>(length);
        for (int i = 0; i < length; i++)
        {
            var at = curves.Where(c => c.Count > i).Select(c => c[i]).ToArray();
            mean.Add((at[0].Epochs, at.Average(p => p.Accuracy)));
        }
        return mean;
    }

    private static List<List<ExperimentOutcome>> Groups(IReadOnlyList<ExperimentOutcome> outcomes) =>
        outcomes.GroupBy(o => o.Experiment.Group).Select(g => g.ToList()).ToList();

    private static string ShortTitle(string title) => title.Split(':')[0];

    private static string Cell(string text) => text.Replace("|", "\\|");

    private static string Duration(double seconds) => seconds < 120
        ? seconds.ToString("F1", Invariant) + " s"
        : seconds < 7200 ? (seconds / 60).ToString("F1", Invariant) + " min" : (seconds / 3600).ToString("F2", Invariant) + " h";
}
