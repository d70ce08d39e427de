using System.CommandLine;
using SharpCnn.Formats;
using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn eval MODEL</c>: accuracy, loss and confusion matrix of a saved model on a test set.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("model") { Description = "A model file saved by 'sharpcnn train --output'", HelpName = "MODEL" };
        var data = CommonOptions.Data("IDX folder to evaluate on (its t10k-* test files); default: the bundled digits' 2,000 test images");
        var precision = CommonOptions.Precision();
        var limit = new Option<int>("--limit") { Description = "Use only the first N test samples (0 = all)", HelpName = "N" }.AtLeast(0);
        var threads = ThreadsOption.Create();
        var command = new Command("eval", "Evaluate a saved model: accuracy, loss and confusion matrix") { file, data, precision, limit, threads };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            ThreadsOption.Apply(r.GetValue(threads));
            var (_, test, label) = DataChoice.Load(r.GetValue(data), 0, r.GetValue(limit));
            return PrecisionOption.Dispatch(r.GetValue(precision)!, new Run(r.GetValue(file)!, test, label, r.InvocationConfiguration.Output));
        }));
        return command;
    }

    private sealed record Run(string File, Data.ImageDataSet Test, string DataLabel, TextWriter Output) : IPrecisionAction
    {
        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var network = ModelFile.Load<T>(File);
            if (network.InputShape.Size != Test.Shape.Size) throw new ArgumentException($"{File} takes inputs of {network.InputShape}, the data are {Test.Shape}");
            var e = Evaluator.Evaluate(network, Test);
            Output.WriteLine($"model    {File}: {network.Spec} (loss {network.Loss.Name})");
            Output.WriteLine($"data     {DataLabel}: {e.Count:N0} test images");
            Output.WriteLine($"accuracy {e.Accuracy:P2} ({(int)Math.Round(e.Accuracy * e.Count)}/{e.Count}), loss {e.Loss:F4}");
            Output.WriteLine(e.FormatConfusion());
            return 0;
        }
    }
}
