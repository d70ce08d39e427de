using System.CommandLine;
using SharpCnn.Data;
using SharpCnn.Images;
using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn eval MODEL</c>: accuracy, loss and confusion matrix of a saved or ONNX model on a test set.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("model") { Description = "A model file saved by 'sharpcnn train --output' (.scnn), or an ONNX model (.onnx, imported on the fly)", HelpName = "MODEL" };
        var data = new DataChoice("Folder to evaluate on: its test set (IDX t10k-* files, CIFAR's test batch, an image folder's test/, or every image of an image folder without one); default: the bundled digits' 2,000 test images");
        var precision = CommonOptions.Precision();
        var limit = new Option<int>("--limit") { Description = "Use only the first N test samples (0 = all)", HelpName = "N" }.AtLeast(0);
        var threads = ThreadsOption.Create();
        var command = new Command("eval", "Evaluate a saved model: accuracy, loss and confusion matrix. The images are brought to the model's input size and channels.") { file, precision, limit, threads };
        foreach (var option in data.All) command.Add(option);
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            ThreadsOption.Apply(r.GetValue(threads));
            var run = new Run(r.GetValue(file)!, data.Selection(r) with { TestLimit = r.GetValue(limit) }, r.Given(data.Size), r.Given(data.Channels), r.InvocationConfiguration.Output, r.InvocationConfiguration.Error);
            return PrecisionOption.Dispatch(r.GetValue(precision)!, run);
        }));
        return command;
    }

    private sealed record Run(string File, DataSelection Selection, bool SizeGiven, bool ChannelsGiven, TextWriter Output, TextWriter Error) : IPrecisionAction
    {
        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var network = SavedModel.Load<T>(File, out string kind);
            var input = network.InputShape;
            // An image folder's pictures are brought to what the model takes, unless the command line says otherwise;
            // IDX and CIFAR data have their fixed shape, which must be the model's.
            bool pictures = Selection.Source is not null && DataFolder.Detect(Selection.Source) == DataSourceKind.ImageFolder;
            var selection = !pictures ? Selection : Selection with
            {
                Width = SizeGiven ? Selection.Width : input.Width,
                Height = SizeGiven ? Selection.Height : input.Height,
                Channels = ChannelsGiven || input.Channels is not (1 or 3) ? Selection.Channels : input.Channels,
            };
            var loaded = DataChoice.Load(selection, DataParts.Test, Error);
            var test = loaded.Test!;
            if (network.InputShape.Size != test.Shape.Size) throw new ArgumentException($"{File} takes inputs of {network.InputShape}, the data are {test.Shape}");
            var e = Evaluator.Evaluate(network, test);
            string names = network.ClassNames is { } n ? $"; classes {string.Join(", ", n.Take(12))}{(n.Count > 12 ? ", ..." : "")}" : "";
            Output.WriteLine($"model    {File}{(kind == "model file" ? "" : $" ({kind})")}: {network.Spec} (loss {network.Loss.Name}{names})");
            string what = loaded.Kind == DataSourceKind.ImageFolder && !Directory.Exists(Path.Combine(loaded.Label, ImageFolder.TestFolder)) ? "images (the folder has no test/: all of it)" : "test images";
            Output.WriteLine($"data     {loaded.Label}: {e.Count:N0} {what}");
            Output.WriteLine($"accuracy {e.Accuracy:P2} ({(int)Math.Round(e.Accuracy * e.Count)}/{e.Count}), loss {e.Loss:F4}");
            Output.WriteLine(e.FormatConfusion());
            return 0;
        }
    }
}
