using System.CommandLine;
using System.Text.Json;
using SharpCnn.Cli;
using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Images;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Tests.Data;
using SharpCnn.Tests.Hostile;
using SharpCnn.Training;

namespace SharpCnn.Tests.Cli;

/// <summary>predict and eval on pictures: every image format, colour models, class names, ONNX models, data folders.</summary>
public sealed class ImageCommandsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-images-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = SharpCnn.Cli.CommandLine.Run(args, new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>A colour model trained on the colour task (16x16), saved with its class names; and its test images.</summary>
    private (string Model, ImageDataSet Test) ColourModel()
    {
        var train = ColourTask.Make(1000, 16, seed: 11);
        var test = ColourTask.Make(200, 16, seed: 12);
        var net = ModelSpec.Parse("normalize,conv3x3x12:same,relu,maxpool2,flatten,dense10").Build<float>(train.Shape);
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(3));
        var stats = train.ChannelStatistics();
        ((Normalize<float>)net.Layers[0]).SetStatistics([.. stats.Mean], [.. stats.Std]);
        net.ClassNames = train.ClassNames;
        new Trainer<float>(net, new TrainingOptions { Epochs = 3, BatchSize = 32, Optimizer = "adam", LearningRate = 0.003 }).Fit(train, null, TestContext.Current.CancellationToken);
        string path = Path.Combine(dir, "colour.scnn");
        ModelFile.Save(net, path);
        return (path, test);
    }

    [Fact]
    public void PredictReadsEveryFormatAndPrintsClassNamesForAColourModelOrItsOnnxExport()
    {
        var (model, test) = ColourModel();
        var files = new List<(string Path, string Name)>();
        int index = 0;
        foreach (var format in new[] { ImageFormat.Png, ImageFormat.Jpeg, ImageFormat.WebP })
        {
            string path = Path.Combine(dir, $"image{index}.{format.ToString().ToLowerInvariant()}");
            File.WriteAllBytes(path, ImageEncoder.Encode(PixelImage.FromDataSet(test, index), format, 95));
            files.Add((path, test.ClassNames![test.Label(index++)]));
        }
        var bmp = PixelImage.FromDataSet(test, index);
        string bmpPath = Path.Combine(dir, "image.bmp");
        File.WriteAllBytes(bmpPath, BmpBytes.Rgb24(16, 16, (x, y) => (bmp[0, x, y], bmp[1, x, y], bmp[2, x, y])));
        files.Add((bmpPath, test.ClassNames![test.Label(index)]));
        // A larger picture is resized to the model's 16x16.
        string big = Path.Combine(dir, "big.png");
        File.WriteAllBytes(big, ImageEncoder.Encode(PixelImage.FromDataSet(test, ++index).Resize(64, 48), ImageFormat.Png));
        files.Add((big, test.ClassNames![test.Label(index)]));

        string onnx = Path.Combine(dir, "colour.onnx");
        OnnxExport.Save(ModelFile.Load<float>(model), onnx);
        foreach (string m in new[] { model, onnx })
        {
            var (exit, output, error) = Run(["predict", m, .. files.Select(f => f.Path)]);
            Assert.True(exit == 0, error);
            int right = 0;
            foreach (var (path, name) in files)
            {
                string line = output.Split('\n').Single(l => l.StartsWith(path, StringComparison.Ordinal));
                Assert.Matches(@"^\S+\s+[a-z]+\s+\(", line);
                if (line[path.Length..].Trim().StartsWith(name + " ", StringComparison.Ordinal)) right++;
            }
            Assert.True(right >= 4, output); // the model is right on nearly every colour
            if (m == onnx) Assert.Contains("(ONNX model from SharpCnn", output);
        }
        var json = Run("predict", model, files[0].Path, "--json");
        var line0 = JsonDocument.Parse(json.Output.Trim()).RootElement;
        Assert.Equal(test.ClassNames![line0.GetProperty("class").GetInt32()], line0.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.String, line0.GetProperty("top")[1].GetProperty("name").ValueKind);
    }

    [Fact]
    public void EvalTakesAnImageFolderOrACifarFolderAndBringsTheImagesToTheModelsInput()
    {
        var (model, test) = ColourModel();
        // An image folder with test/: 32x32 copies of the test images, brought back to 16x16 on load.
        for (int i = 0; i < 60; i++)
        {
            string folder = Path.Combine(dir, "pictures", i < 40 ? "train" : "test", test.ClassNames![test.Label(i)]);
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, $"{i}.png"), ImageEncoder.Encode(PixelImage.FromDataSet(test, i).Resize(32, 32), ImageFormat.Png));
        }
        var (exit, output, error) = Run("eval", model, "--data", Path.Combine(dir, "pictures"));
        Assert.True(exit == 0, error);
        Assert.Contains("20 test images", output);
        Assert.Matches(@"accuracy \d+\.\d+ %", output);
        Assert.Contains("loaded 20 images of 3x16x16", error); // only test/ is read
        Assert.Contains("20 resized", error);

        // A CIFAR-10 folder of 32x32 colour images: its fixed shape must be the model's, or resized with --size.
        CifarFolderTests.WriteCifar10(Path.Combine(dir, "cifar"));
        Assert.Contains("takes inputs of 3x16x16, the data are 3x32x32", Run("eval", model, "--data", Path.Combine(dir, "cifar")).Error);
        var cifar = Run("eval", model, "--data", Path.Combine(dir, "cifar"), "--size", "16x16");
        Assert.True(cifar.Exit == 0, cifar.Error);
        Assert.Contains("4 test images", cifar.Output);

        // An unreadable picture stops eval with a hint, or is skipped and listed.
        string bad = Path.Combine(dir, "pictures", "test", test.ClassNames![test.Label(45)], "broken.jpg");
        File.WriteAllText(bad, "no picture here");
        var stopped = Run("eval", model, "--data", Path.Combine(dir, "pictures"));
        Assert.Equal(2, stopped.Exit);
        Assert.StartsWith($"error: {bad}: expected a JPEG", stopped.Error);
        Assert.Contains("--skip-unreadable skips such files and lists them", stopped.Error);
        var skipped = Run("eval", model, "--data", Path.Combine(dir, "pictures"), "--skip-unreadable");
        Assert.True(skipped.Exit == 0, skipped.Error);
        Assert.Contains($"skipped 1 unreadable image:\n  {bad}: expected a JPEG", skipped.Error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void DataOptionsAreCheckedWhenParsed()
    {
        Assert.Contains("--channels must be 1 or 3, not 2", Run("eval", "m.scnn", "--channels", "2").Error);
        Assert.Contains("--size must be WIDTHxHEIGHT", Run("eval", Path.Combine(dir, "none.scnn"), "--size", "32").Error);
        Assert.Contains("'medium'", Run("eval", "m.scnn", "--label", "medium").Error);
    }

    [Fact]
    public void TrainOnAnImageFolderWithValidationAugmentationNormalisationAndKeepBest()
    {
        // Three colours of the colour task as a folder of PNG files without test/: the model's dense10 becomes dense3.
        var images = ColourTask.Make(240, 12, seed: 21);
        int written = 0;
        for (int i = 0; i < images.Count; i++)
        {
            if (images.Label(i) >= 3) continue;
            string folder = Path.Combine(dir, "three", images.ClassNames![images.Label(i)]);
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, $"{i:D3}.png"), ImageEncoder.Encode(PixelImage.FromDataSet(images, i), ImageFormat.Png));
            written++;
        }
        string model = Path.Combine(dir, "three.scnn");
        var (exit, output, error) = Run("train", "--data", Path.Combine(dir, "three"), "--model", "seed-fc2",
            "--validation", "0.25", "--keep-best", "--augment", "crop1,flip", "--normalize", "auto", "--epochs", "3", "--lr", "0.01", "-o", model, "--json");
        Assert.True(exit == 0, error);
        Assert.Contains($"loaded {written} images of 3x12x12", error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        var start = lines[0];
        Assert.Equal("randcrop1,randflip,normalize,flatten,dense300,sigmoid,dense3,minusmax", start.GetProperty("spec").GetString()); // the preset fitted to 3 classes
        Assert.Equal(0, start.GetProperty("test_samples").GetInt32());
        Assert.True(start.GetProperty("validation_samples").GetInt32() > 0);
        Assert.Equal(["blue", "green", "red"], start.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()));
        var epochs = lines.Where(l => l.GetProperty("event").GetString() == "epoch").ToArray();
        Assert.Equal(3, epochs.Length);
        Assert.All(epochs, e => Assert.Equal(JsonValueKind.Null, e.GetProperty("test_accuracy").ValueKind));
        double best = epochs.Max(e => e.GetProperty("validation_accuracy").GetDouble());
        var end = lines[^1];
        Assert.Equal(JsonValueKind.Null, end.GetProperty("test_accuracy").ValueKind); // no test set
        int bestEpoch = end.GetProperty("best_epoch").GetInt32();
        Assert.Equal(best, epochs[bestEpoch - 1].GetProperty("validation_accuracy").GetDouble());
        // The kept file: the best epoch, its names and its measured normalisation.
        var header = ModelFile.ReadHeader(model);
        Assert.Equal(bestEpoch.ToString(), header.Metadata["epoch"]);
        Assert.Equal(["blue", "green", "red"], header.ClassNames!);
        var normalize = (Normalize<float>)ModelFile.Load<float>(model).Layers[2];
        Assert.NotEqual(0f, normalize.Mean.Value[0]);
        Assert.NotEqual(1f, normalize.Std.Value[0]);
        // eval on the same folder (no test/: all of it) and predict print class names.
        var eval = Run("eval", model, "--data", Path.Combine(dir, "three"));
        Assert.True(eval.Exit == 0, eval.Error);
        Assert.Contains($"{written} images (the folder has no test/: all of it)", eval.Output);
        // A spec written by hand must give one output per named class.
        var mismatch = Run("train", "--data", Path.Combine(dir, "three"), "--model", "flatten,dense10", "--epochs", "1");
        Assert.Equal(2, mismatch.Exit);
        Assert.Contains("the spec's last layer dense10 gives 10 outputs, the data have 3 classes (blue, green, red): end the spec in dense3", mismatch.Error);
    }

    [Theory]
    [InlineData("--keep-best needs a validation set", "train", "--keep-best", "-o", "m.scnn")]
    [InlineData("--keep-best saves the best epoch to --output", "train", "--keep-best", "--validation", "0.1")]
    [InlineData("--augment: unknown augmentation 'rotate'", "train", "--augment", "crop2,rotate")]
    [InlineData("--augment: 'crop0'", "train", "--augment", "crop0")]
    [InlineData("--normalize must be none, auto, or MEANS/STDS", "train", "--normalize", "0.5")]
    [InlineData("--validation must be at least 0 and below 1, not 1", "train", "--validation", "1")]
    public void BadTrainingDataOptionsAreOneLine(string expected, params string[] args)
    {
        var (exit, _, error) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, error);
    }
}
