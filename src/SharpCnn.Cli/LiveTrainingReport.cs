using System.Collections.Concurrent;
using Spectre.Console;
using Spectre.Console.Rendering;
using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary>
/// Live progress in a terminal with Spectre.Console: one bar per epoch with the running loss and
/// training accuracy, samples per second and the time left in the epoch; a finished bar keeps its
/// epoch's test accuracy. At the end, a table of every epoch and the final scores.
/// </summary>
internal sealed class LiveTrainingReport(IAnsiConsole console) : TrainingReport
{
    public override void Start(TrainingStart s)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        if (s.Resumed is not null) grid.AddRow("[bold]resumed[/]", Markup.Escape(s.Resumed));
        grid.AddRow("[bold]model[/]", $"{Markup.Escape(s.ModelLabel)}: {Markup.Escape(s.Spec)}");
        grid.AddRow("", $"{s.Parameters:N0} parameters, {s.ForwardMegaflops:F1} MFLOP forward per sample; loss {Markup.Escape(s.Loss)}, init {Markup.Escape(s.Init)}, {s.Precision}");
        grid.AddRow("[bold]data[/]", Markup.Escape(s.DataLine));
        grid.AddRow("[bold]training[/]", $"{s.Options.Epochs} epoch(s), batch {s.Options.BatchSize}, {Markup.Escape(s.Options.Optimizer)} {Markup.Escape(s.Rate)}, seed {s.Options.Seed}{Markup.Escape(s.Safety)}");
        console.Write(grid);
    }

    public override TrainingResult Run(int epochs, int samplesPerEpoch, Func<Action<TrainingProgress>, Action<EpochResult>, TrainingResult> fit)
    {
        // Fit one bar per line in the terminal: long labels from 110 columns on, compact ones in 80.
        bool wide = console.Profile.Width >= 110;
        string Label(int epoch, double loss, double accuracy, Evaluation? test, string name = "test") =>
            (wide ? $"epoch {epoch}/{epochs}  loss {loss:F4}  acc {100 * accuracy:F1}%" : $"{epoch}/{epochs} loss {loss:F4} acc {100 * accuracy:F1}%")
            + (test is null ? "" : wide ? $"  [green]{name} {100 * test.Accuracy:F2}%[/]" : $" [green]{name} {100 * test.Accuracy:F1}%[/]");
        var speed = new SamplesPerSecondColumn(wide ? "samples/s" : "img/s");
        return console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = wide ? 30 : 12 }, new PercentageColumn(), speed, new RemainingTimeColumn())
            .Start(context =>
            {
                var tasks = new Dictionary<int, ProgressTask>();
                ProgressTask For(int epoch)
                {
                    if (!tasks.TryGetValue(epoch, out var task))
                        tasks[epoch] = task = context.AddTask(wide ? $"epoch {epoch}/{epochs}" : $"{epoch}/{epochs}", maxValue: samplesPerEpoch);
                    return task;
                }
                For(1);
                var result = fit(
                    p =>
                    {
                        var task = For(p.Epoch);
                        task.Value = p.Samples;
                        task.Description = Label(p.Epoch, p.Loss, p.Accuracy, null);
                        speed.Set(task.Id, p.SamplesPerSecond);
                    },
                    e =>
                    {
                        var task = For(e.Epoch);
                        task.Description = Label(e.Epoch, e.TrainLoss, e.TrainAccuracy, e.Validation ?? e.Test, e.Validation is null ? "test" : "val");
                        speed.Set(task.Id, e.SamplesPerSecond);
                        task.Value = task.MaxValue;
                        task.StopTask();
                        if (e.Epoch < epochs) For(e.Epoch + 1);
                    });
                foreach (var (epoch, task) in tasks)
                {
                    if (task.IsFinished) continue;
                    task.Description = $"{epoch}/{epochs} [grey]not run: {Markup.Escape(result.StopReason)}[/]";
                    task.StopTask();
                }
                return result;
            });
    }

    public override void End(TrainingEnd end)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]training summary[/]");
        string held = end.Result.Epochs.Any(e => e.Validation is not null) ? "val" : "test";
        foreach (string column in (string[])["epoch", "train loss", "train acc", $"{held} loss", $"{held} acc", "time", "samples/s"])
            table.AddColumn(new TableColumn(column).RightAligned());
        foreach (var e in end.Result.Epochs)
            table.AddRow(
                e.Epoch.ToString(),
                $"{e.TrainLoss:F4}",
                $"{e.TrainAccuracy:P2}",
                (e.Validation ?? e.Test) is { } h1 ? $"{h1.Loss:F4}" : "-",
                (e.Validation ?? e.Test) is { } h2 ? $"{h2.Accuracy:P2}" : "-",
                $"{e.Seconds:F1}s",
                $"{e.SamplesPerSecond:N0}");
        console.Write(table);
        console.MarkupLine($"stopped: {Markup.Escape(end.Result.StopReason)}");
        if (end.Best is { } best) console.MarkupLine(Markup.Escape(best));
        if (end.Final is { } f)
        {
            console.MarkupLine($"[bold green]test accuracy {f.Accuracy:P2}[/] ({(int)Math.Round(f.Accuracy * f.Count)}/{f.Count}), test loss {f.Loss:F4}");
            if (end.ShowConfusion) console.Write(Confusion(f));
        }
        if (end.ModelFile is not null) console.MarkupLine($"saved    [link]{Markup.Escape(end.ModelFile)}[/]");
        if (end.Pictures.Count > 0) console.MarkupLine($"pictures {Markup.Escape(string.Join(", ", end.Pictures))}");
    }

    private static Table Confusion(Evaluation f)
    {
        int k = f.Confusion.GetLength(0);
        var table = new Table().Border(TableBorder.Simple).Title("confusion matrix (rows: true class, columns: predicted)");
        table.AddColumn(new TableColumn("true\\pred").RightAligned());
        for (int j = 0; j < k; j++) table.AddColumn(new TableColumn(j.ToString()).RightAligned());
        table.AddColumn(new TableColumn("recall").RightAligned());
        for (int i = 0; i < k; i++)
        {
            int row = 0;
            var cells = new List<string> { i.ToString() };
            for (int j = 0; j < k; j++)
            {
                row += f.Confusion[i, j];
                cells.Add(i == j ? $"[bold]{f.Confusion[i, j]}[/]" : f.Confusion[i, j] == 0 ? "[grey]0[/]" : $"[yellow]{f.Confusion[i, j]}[/]");
            }
            cells.Add(row == 0 ? "-" : $"{(double)f.Confusion[i, i] / row:P1}");
            table.AddRow(cells.ToArray());
        }
        return table;
    }

    /// <summary>The training speed reported by the trainer for each bar (exact, unlike a speed estimated from the bar's updates).</summary>
    private sealed class SamplesPerSecondColumn(string unit) : ProgressColumn
    {
        private readonly ConcurrentDictionary<int, double> rates = new();

        public void Set(int task, double samplesPerSecond) => rates[task] = samplesPerSecond;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            rates.TryGetValue(task.Id, out double rate) && double.IsFinite(rate)
                ? new Markup($"[blue]{rate,6:N0}[/] {unit}")
                : new Text("");
    }
}
