using SharpCnn.Cli.Experiments;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Cli.Experiments;

public sealed class ExperimentsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-experiments-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static Experiment Find(string id) => ExperimentCatalog.All.Single(e => e.Id == id);

    [Fact]
    public void EveryRowTheIssueListsIsThereWithTheSeedsFigures()
    {
        Assert.Equal("0.8875", Find("t1-softmax-mse").SeedFigure);
        Assert.Equal("0.8815", Find("t1-softmax-ce").SeedFigure);
        string[] table2 = ["0.6717", "0.8959", "0.9051", "0.9204", "0.6186", "0.8848", "0.9228", "0.9152"];
        Assert.Equal(table2, ExperimentCatalog.All.Where(e => e.Group == "seed000-table2").Select(e => e.SeedFigure));
        Assert.Equal("0.9358", Find("t3-float").SeedFigure);
        Assert.Equal("0.9383", Find("t3-double").SeedFigure);
        Assert.True(Find("t3-double").Double);
        Assert.False(Find("t3-float").Double);
        Assert.Equal(InitScheme.Uniform, Find("failure-rand-init").Init);
        Assert.Equal(Find("batch-single").Options.Epochs, Find("batch-mini").Options.Epochs);
        Assert.Equal(1, Find("batch-single").Options.BatchSize);
        Assert.Equal(Presets.Find("lenet5")!.Spec, Find("lenet5").Spec);
        Assert.Contains("batchnorm", Find("bn-rand-init-bn").Spec);
        Assert.Equal(InitScheme.Uniform, Find("bn-rand-init-bn").Init);
        Assert.True(Find("fashion").RequiresFashion);
        Assert.Equal(0.930, Find("fashion").Target);
        // Every seed-000 row is one pass, and the Table 1 rows use lr 0.05 with rand() init.
        Assert.All(ExperimentCatalog.All.Where(e => e.Group is "seed000-table1" or "seed000-table2" or "seed000-table3"), e => Assert.Equal(1, e.Options.Epochs));
        Assert.All(ExperimentCatalog.All.Where(e => e.Group == "seed000-table1"), e => Assert.Equal((0.05, InitScheme.Uniform), (e.Options.LearningRate, e.Init)));
        Assert.Equal(ExperimentCatalog.All.Count, ExperimentCatalog.All.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public void EveryExperimentsModelBuildsForMnistImages()
    {
        foreach (var e in ExperimentCatalog.All)
        {
            var net = ModelSpec.Parse(e.Spec).Build<float>(new Shape(1, 28, 28), e.Loss);
            Assert.Equal(10, net.Classes);
        }
    }

    [Fact]
    public void Seed004sModelsHaveTheSeedsShapes()
    {
        var three = ModelSpec.Parse(Find("s004-3layer").Spec).Build<float>(new Shape(1, 28, 28), "mse");
        Assert.Equal(new Shape(1, 24, 24), three.Layers[0].OutputShape);
        Assert.Equal(new Shape(32, 22, 22), three.Layers[1].OutputShape);
        Assert.Equal(new Shape(32, 11, 11), three.Layers[3].OutputShape);
        Assert.Equal(2048L * 3872 + 2048, three.Layers[5].ParameterCount); // the seed's 2,048 x 3,872 weights
        var five = ModelSpec.Parse(Find("s004-5layer").Spec).Build<float>(new Shape(1, 28, 28), "mse");
        Assert.Equal(new Shape(32, 11, 11), five.Layers[3].OutputShape);
        Assert.Equal(new Shape(32, 6, 6), five.Layers[4].OutputShape);  // 11x11 zero-padded to 12x12, pooled
        Assert.Equal(new Shape(64, 5, 5), five.Layers[5].OutputShape);  // 64 kernels of 2x2
    }

    [Fact]
    public void SelectTakesIdsPrefixesAndGroupsAndRejectsUnknownOnes()
    {
        Assert.Equal(ExperimentCatalog.All, ExperimentCatalog.Select(null));
        Assert.Equal(["t3-float", "t3-double", "t3-float-lr0.05", "fashion"], ExperimentCatalog.Select("fashion,t3").Select(e => e.Id));
        Assert.Equal(8, ExperimentCatalog.Select("seed000-table2").Count);
        Assert.Contains("matches no experiment", Assert.Throws<ArgumentException>(() => ExperimentCatalog.Select("t9")).Message);
    }

    private static readonly Experiment Tiny = new()
    {
        Id = "tiny", Group = "tiny", GroupTitle = "Tiny: a test", Name = "tiny", SeedFigure = "0.5", Spec = "flatten,dense10", Loss = "ce",
        Init = InitScheme.Xavier, Options = new TrainingOptions { Epochs = 2, BatchSize = 10, LearningRate = 0.1 }, MatchedSteps = true,
        ReportOutputScale = true,
    };

    [Fact]
    public void RunsAreSeededAndReportAccuracyCurvesAndMatchedSteps()
    {
        var (train, test) = BundledDigits.Load();
        var settings = new ExperimentSettings { Runs = 2, SeedTrainingImages = 300 };
        var lines = new List<string>();
        var outcome = ExperimentRunner.Run(Tiny, train.Take(200), test.Take(100), "digits", false, settings, lines.Add);
        Assert.Null(outcome.Skipped);
        Assert.Equal([1UL, 2UL], outcome.Runs.Select(r => r.Seed));
        Assert.All(outcome.Runs, r => Assert.InRange(r.Accuracy, 0.3, 1));
        Assert.All(outcome.Runs, r => Assert.Equal(2, r.TestCurve.Count));
        Assert.All(outcome.Runs, r => Assert.True(r.TrainCurve.Count >= 10));
        Assert.All(outcome.Runs, r => Assert.True(r.InitialMaxOutput > 0));
        // Matched steps: 300 samples at batch 10 over a 200-image set = 30 steps, 1.5 passes.
        Assert.Equal(1.5, outcome.MatchedEpochs);
        Assert.All(outcome.MatchedRuns, r => Assert.Equal(30, r.Steps));
        // A line per run (2 runs, 2 matched runs) and, since each run has two passes, a line per pass before it.
        Assert.Equal(4, lines.Count(l => l.Contains(": test accuracy")));
        Assert.Equal(["tiny run 1/2 pass 1/2", "tiny run 1/2 pass 2/2", "tiny run 1/2"], lines.Take(3).Select(l => l[..l.IndexOf(':')]));
        Assert.Matches(@"^tiny run 1/2 pass 2/2: train loss [0-9.]+, train accuracy [0-9.]+, test accuracy [0-9.]+, [0-9.]+ s \(\d+ samples/s\)$", lines[1]);
        Assert.Equal(12, lines.Count);
        // Same seed, same run.
        var again = ExperimentRunner.Run(Tiny, train.Take(200), test.Take(100), "digits", false, settings with { Runs = 1 });
        Assert.Equal(outcome.Runs[0].Accuracy, again.Runs[0].Accuracy);
    }

    [Fact]
    public void ABlowUpIsReportedWithItsStepNotThrown()
    {
        var (train, test) = BundledDigits.Load();
        var exploding = Tiny with { Id = "boom", Init = InitScheme.Uniform, Options = Tiny.Options with { LearningRate = 1e38 }, MatchedSteps = false };
        var outcome = ExperimentRunner.Run(exploding, train.Take(100), test.Take(50), "digits", false, new ExperimentSettings { Runs = 1 });
        var run = Assert.Single(outcome.Runs);
        Assert.True(run.Diverged);
        Assert.True(double.IsNaN(run.Accuracy));
        Assert.StartsWith("diverged (layer 2 'dense10' output", run.StopReason);
        Assert.Contains("at step", run.StopReason);
        string md = ExperimentReport.Markdown([outcome], new ExperimentRunInfo(DateTime.UtcNow, "test", "sharpcnn experiments", 1, false, 1));
        Assert.Contains("diverged (1/1 runs; first at step", md);
        Assert.Contains("largest |output| at step 1 (the first batch, before any update)", md);
    }

    [Fact]
    public void TheFashionRowIsSkippedWithAClearNoteOnOtherData()
    {
        var (train, test) = BundledDigits.Load();
        var outcome = ExperimentRunner.Run(Find("fashion"), train.Take(10), test.Take(10), "digits", false, new ExperimentSettings());
        Assert.Empty(outcome.Runs);
        Assert.Contains(FashionMnist.DebianFolder, outcome.Skipped);
        Assert.Contains("apt-get install dataset-fashion-mnist", outcome.Skipped);
    }

    [Fact]
    public void TheReportHasTheTableAndOneChartPerGroup()
    {
        var (train, test) = BundledDigits.Load();
        var settings = new ExperimentSettings { Quick = true, QuickEpochs = 1 };
        var outcomes = new[]
        {
            ExperimentRunner.Run(Tiny, train.Take(100), test.Take(50), "digits (100 / 50)", false, settings),
            ExperimentRunner.Run(Find("fashion"), train.Take(10), test.Take(10), "digits (100 / 50)", false, settings),
        };
        var info = new ExperimentRunInfo(new DateTime(2026, 1, 2, 3, 4, 0, DateTimeKind.Utc), "2 cores, AVX-512", "sharpcnn experiments --quick", 1, true, 12.5);
        string path = ExperimentReport.Write(dir, outcomes, info);
        string md = File.ReadAllText(path);
        Assert.Contains("| experiment | seed figure | ours: mean ± std (runs) | ours, matched steps | data set | epochs | wall time / run |", md);
        Assert.Contains("| `tiny` tiny | 0.5 |", md);
        Assert.Contains("2026-01-02 03:04 UTC", md);
        Assert.Contains("`sharpcnn experiments --quick`", md);
        Assert.Contains("skipped (see notes)", md);
        Assert.Contains("![Tiny](tiny.svg)", md);
        Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(dir, "tiny.svg")));
        Assert.True(File.Exists(Path.Combine(dir, "fashion.svg")));
    }
}

public sealed class AugmentedFashionRowTests
{
    [Fact]
    public void TheAugmentedFashionRowPutsCropsAndFlipsInFrontOfTheVggStyleModel()
    {
        var row = ExperimentCatalog.All.Single(e => e.Id == "augment-fashion");
        Assert.Equal("randcrop2,randflip," + ExperimentCatalog.FashionVggSpec, row.Spec);
        var net = SharpCnn.Model.ModelFactory.FromSpec<float>(row.Spec, new SharpCnn.Tensors.Shape(1, 28, 28));
        Assert.InRange(net.ParameterCount, 1_650_000, 1_700_000);
        Assert.True(row.RequiresFashion);
        Assert.Equal(0.940, row.Target);
        Assert.Equal(40, row.Options.Epochs);
        Assert.Equal(ExperimentCatalog.FashionOptions with { Epochs = 40 }, row.Options);
        Assert.Equal(["augment-fashion"], ExperimentCatalog.Select("augment").Select(e => e.Id));
    }
}
