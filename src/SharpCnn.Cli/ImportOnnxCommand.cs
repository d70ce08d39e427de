using System.CommandLine;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary>
/// <c>sharpcnn import-onnx IN.onnx OUT.scnn</c>: reads an ONNX model built from the operators
/// SharpCnn has layers for (e.g. a LeNet exported from PyTorch) and saves it as a SharpCnn
/// model file, ready for eval, train (fine-tuning) and export-onnx.
/// </summary>
internal static class ImportOnnxCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("onnx") { Description = "The ONNX model to read (.onnx)" };
        var output = new Argument<string>("output") { Description = "The SharpCnn model file to write (.scnn)" };
        var precision = CommonOptions.Precision("float or double: the precision the model file stores");
        var loss = new Option<string>("--loss") { Description = "The loss for training the imported model: ce, softmax-mse or mse (ONNX models carry none)", DefaultValueFactory = _ => "ce" };
        var command = new Command("import-onnx", $"Import an ONNX model ({string.Join(", ", OnnxImport.SupportedOperators)}) as a SharpCnn model file")
        {
            input, output, precision, loss,
        };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
            PrecisionOption.Dispatch(r.GetValue(precision)!, new Run(r.GetValue(input)!, r.GetValue(output)!, r.GetValue(loss)!, r.InvocationConfiguration.Output))));
        return command;
    }

    private sealed record Run(string Input, string Output, string Loss, TextWriter Out) : IPrecisionAction
    {
        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var imported = OnnxImport.Load<T>(Input, Loss);
            var network = imported.Network;
            ModelFile.Save(network, Output, new Dictionary<string, string>
            {
                ["imported-from"] = Path.GetFileName(Input),
                ["onnx-producer"] = imported.Producer,
                ["onnx-opset"] = imported.Opset.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["onnx-output"] = imported.OutputIsProbabilities ? "probabilities (final Softmax)" : "scores",
            });
            Out.WriteLine($"read  {Input}: {imported.Producer}, opset {imported.Opset}, input '{imported.InputName}' {network.InputShape}, output '{imported.OutputName}' [{network.Classes}]{(imported.OutputIsProbabilities ? " after Softmax" : "")}");
            foreach (string note in imported.Notes) Out.WriteLine($"      {note}");
            Out.WriteLine($"wrote {Output}: {network.Spec} (loss {network.Loss.Name}, {Precisions.Of<T>().TypeName()})");
            Out.WriteLine(ModelSummary.Format(network));
            return 0;
        }
    }
}
