using SkiaSharp;
using SharpCnn.Charts;
using SharpCnn.Training;

namespace SharpCnn.Tests.Charts;

/// <summary>The ScottPlot charts of a training run: real PNGs of the stated size with many colours, for ordinary runs and awkward ones.</summary>
public sealed class TrainingChartsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-charts-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static readonly Func<TrainingHistory, int, int, byte[]>[] Charts =
        [TrainingCharts.LossPng, TrainingCharts.AccuracyPng, TrainingCharts.LearningRatePng, TrainingCharts.GradientNormsPng, TrainingCharts.UpdateRatiosPng];

    /// <summary>A run of <paramref name="steps"/> steps over 3 epochs whose loss falls, two tensors whose gradients differ by decades.</summary>
    private static TrainingHistory Run(int steps)
    {
        var history = new TrainingHistory(["1 conv3x3x4 weight", "3 dense10 weight"]);
        var random = new Random(1);
        for (int s = 1; s <= steps; s++)
        {
            history.AddStep(s, 2.3 * Math.Exp(-s / 40.0) + 0.2 * random.NextDouble(), Math.Min(1, s / 100.0), 0.01 * (1 - (double)s / (steps + 1)));
            if (s % 5 == 0) history.AddStatistics(s, [1e-4 * s, 2.0 / s], [1e-3, 5e-2 / s]);
        }
        for (int e = 1; e <= 3; e++)
            history.AddEpoch(new EpochPoint(e, e * steps / 3, 1.0 / e, 0.6 + 0.1 * e, 1.1 / e, 0.55 + 0.1 * e));
        return history;
    }

    /// <summary>Decodes <paramref name="png"/> with SkiaSharp and checks its size, then counts its distinct colours and the spread of its brightness.</summary>
    private static (int Colours, double Deviation) Inspect(byte[] png, int width, int height)
    {
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        using var bitmap = SKBitmap.Decode(png);
        Assert.NotNull(bitmap);
        Assert.Equal((width, height), (bitmap.Width, bitmap.Height));
        var colours = new HashSet<uint>();
        double sum = 0, squares = 0;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                colours.Add((uint)c);
                double v = (c.Red + c.Green + c.Blue) / 3.0;
                sum += v;
                squares += v * v;
            }
        int n = bitmap.Width * bitmap.Height;
        return (colours.Count, Math.Sqrt(squares / n - sum / n * (sum / n)));
    }

    [Fact]
    public void EveryChartIsAPngOfTheStatedSizeWithManyColours()
    {
        var history = Run(300);
        foreach (var (chart, i) in Charts.Select((c, i) => (c, i)))
        {
            var (colours, deviation) = Inspect(chart(history, 640, 360), 640, 360);
            Assert.True(colours >= 50, $"chart {TrainingCharts.FileNames[i]}: only {colours} colours");
            Assert.True(deviation > 5, $"chart {TrainingCharts.FileNames[i]}: brightness deviation {deviation:F2}, nearly blank");
        }
    }

    [Fact]
    public void SaveAllWritesEveryChartAndAnIndex()
    {
        var written = TrainingCharts.SaveAll(dir, Run(50));
        Assert.Equal(TrainingCharts.FileNames, written.Select(Path.GetFileName));
        foreach (string path in written) Inspect(File.ReadAllBytes(path), TrainingCharts.Width, TrainingCharts.Height);
        string index = File.ReadAllText(TrainingCharts.WriteIndex(dir, "conv <3>", written));
        Assert.Contains("<img src=\"loss.png\"", index);
        Assert.Contains("conv &lt;3&gt;", index);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void ARunWithNaNsASinglePointOrNothingStillRenders()
    {
        var nan = new TrainingHistory(["1 dense10 weight"]);
        nan.AddStep(1, 2.3, 0.1, 0.01);
        nan.AddStep(2, double.NaN, 0, 0.01);
        nan.AddStep(3, double.PositiveInfinity, 0, double.NaN);
        nan.AddStep(4, 1.9, 0.2, 0.01);
        nan.AddStatistics(1, [double.NaN], [double.PositiveInfinity]);
        nan.AddStatistics(2, [0.5], [1e-3]);
        nan.AddEpoch(new EpochPoint(1, 4, double.NaN, 0.15, double.NaN, double.NaN));

        var single = new TrainingHistory(["1 dense10 weight"]);
        single.AddStep(1, 2.3, 0.1, 0.01);
        single.AddStatistics(1, [0.5], [1e-3]);
        single.AddEpoch(new EpochPoint(1, 1, 2.3, 0.1, 2.2, 0.12));

        var allNaN = new TrainingHistory(["1 dense10 weight"]);
        allNaN.AddStep(1, double.NaN, double.NaN, double.NaN);
        allNaN.AddStatistics(1, [double.NaN], [double.NaN]);

        foreach (var history in new[] { nan, single, allNaN, new TrainingHistory([]) })
            foreach (var chart in Charts)
            {
                var (colours, _) = Inspect(chart(history, 400, 300), 400, 300);
                Assert.True(colours >= 10, $"{colours} colours");
            }
    }

    [Fact]
    public void ALogAxisLeavesOutZeroAndNegativeValuesAndSaysSo()
    {
        var history = new TrainingHistory(["a", "b"]);
        for (int s = 1; s <= 20; s++) history.AddStatistics(s, [s % 4 == 0 ? 0 : 1e-3 * s, -1.0 * s], [0, 1e-2]);
        var (colours, deviation) = Inspect(TrainingCharts.GradientNormsPng(history, 500, 300), 500, 300);
        Assert.True(colours >= 20 && deviation > 5, $"{colours} colours, deviation {deviation:F2}");
        // Only non-positive values: nothing to draw on the axis, still a picture.
        var none = new TrainingHistory(["a"]);
        none.AddStatistics(1, [0], [-1]);
        Inspect(TrainingCharts.UpdateRatiosPng(none, 500, 300), 500, 300);
    }

    [Fact]
    public void ChartSizesOutsideTheLimitsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingCharts.LossPng(Run(5), 10, 300));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingCharts.LossPng(Run(5), 400, 100_000));
    }

    [Fact]
    public void TheSmoothedLossIsAnExponentialMovingAverageThatSkipsGaps()
    {
        var ema = TrainingCharts.Ema([1, double.NaN, 3, 3], 0.5);
        Assert.Equal(1, ema[0]);
        Assert.True(double.IsNaN(ema[1]));
        Assert.Equal(2, ema[2]);
        Assert.Equal(2.5, ema[3]);
    }

    [Fact]
    public void HistoryThinsLongRunsAndStillSpansThem()
    {
        var history = new TrainingHistory(["a"]);
        int steps = TrainingHistory.MaxPoints * 3;
        for (int s = 1; s <= steps; s++) history.AddStep(s, 1, 1, 1);
        Assert.InRange(history.Steps.Count, TrainingHistory.MaxPoints / 2, TrainingHistory.MaxPoints);
        Assert.Equal(1, history.Steps[0]);
        Assert.True(history.Steps[^1] > steps - 8, $"last step kept {history.Steps[^1]}");
        Assert.Throws<ArgumentException>(() => history.AddStatistics(1, [1, 2], [1]));
    }

    [Fact]
    public void TheRecorderTakesEveryStepAndEpochAndLeavesTheWeightsAlone()
    {
        var data = Training.TrainerResumeAndGuardTests.Data(40);
        var options = new TrainingOptions { BatchSize = 4, Epochs = 2, Optimizer = "adam", LearningRate = 0.01 };
        var ct = TestContext.Current.CancellationToken;
        var plain = Training.TrainerResumeAndGuardTests.Network<float>();
        new Trainer<float>(plain, options).Fit(data, cancellation: ct);
        var watched = Training.TrainerResumeAndGuardTests.Network<float>();
        var trainer = new Trainer<float>(watched, options);
        var recorder = new TrainingRecorder<float>(trainer, statisticsEvery: 3);
        trainer.Fit(data, cancellation: ct);
        var history = recorder.History;
        Assert.Equal(Enumerable.Range(1, 20).Select(s => (double)s), history.Steps);
        Assert.Equal([1.0, 4, 7, 10, 13, 16, 19], history.StatisticSteps);
        Assert.Equal([10L, 20L], history.Epochs.Select(e => e.EndStep));
        Assert.All(history.GradientNorms.SelectMany(g => g), g => Assert.True(g > 0 && double.IsFinite(g)));
        Assert.All(history.LearningRates, r => Assert.Equal(0.01, r));
        Assert.True(history.Losses.All(double.IsFinite));
        var a = plain.Parameters.ToArray();
        var b = watched.Parameters.ToArray();
        for (int i = 0; i < a.Length; i++)
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a[i].Value.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b[i].Value.AsSpan())), $"parameter {i} differs");
    }
}
