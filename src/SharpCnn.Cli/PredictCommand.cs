using System.CommandLine;
using SharpCnn.Data;
using SharpCnn.Images;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn predict MODEL IMAGE...</c>: classifies image files with a saved or ONNX model and prints the top classes.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("model") { Description = "A model file saved by 'sharpcnn train --output' (.scnn), or an ONNX model (.onnx, imported on the fly)", HelpName = "MODEL" };
        var images = new Argument<string[]>("images")
        {
            Description = "Image files: JPEG, PNG, WebP, BMP or GIF (the first frame), grey or colour",
            HelpName = "IMAGE",
            Arity = ArgumentArity.OneOrMore,
        };
        var invert = new Option<bool>("--invert", "-i") { Description = "Invert the pixel values first: for dark digits on light paper (MNIST digits are light on black)" };
        var top = new Option<int>("--top", "-k") { Description = "How many classes to show per image, most probable first", DefaultValueFactory = _ => 3, HelpName = "N" };
        var precision = CommonOptions.Precision();
        var json = CommonOptions.Json("Write one JSON object per image (file, class, name, probability, top) instead of text");
        var command = new Command("predict",
            "Classify image files with a saved model. Each image is decoded (JPEG, PNG, WebP, BMP, GIF; transparency over white), converted to the model's channels " +
            "(colour to grey by luma 0.299 R + 0.587 G + 0.114 B, grey to colour by repeating it), resized to the model's input (area averaging when shrinking, bilinear when enlarging), " +
            "optionally inverted, scaled to pixel/255 like the training data (the model's own normalisation, if it has one, follows), and the most probable classes are printed with their probabilities.")
        {
            file, images, invert, top, precision, json,
        };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            int k = r.GetValue(top);
            if (k < 1) throw new ArgumentException($"--top must be at least 1, not {k}");
            var run = new Run(r.GetValue(file)!, r.GetValue(images)!, r.GetValue(invert), k, r.GetValue(json), r.InvocationConfiguration.Output, r.InvocationConfiguration.Error);
            return PrecisionOption.Dispatch(r.GetValue(precision)!, run);
        }));
        return command;
    }

    private sealed record Run(string ModelFile, string[] Images, bool Invert, int Top, bool Json, TextWriter Output, TextWriter Error) : IPrecisionAction
    {
        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var network = SavedModel.Load<T>(ModelFile, out string kind);
            var model = new Classifier<T>(network);
            var input = model.InputShape;
            if (input.Channels is not (1 or 3))
                throw new ArgumentException($"{ModelFile} takes {input} inputs; predict feeds it images, which have 1 (grey) or 3 (colour) channels");
            var names = network.ClassNames;
            string Name(int c) => names is null ? c.ToString(System.Globalization.CultureInfo.InvariantCulture) : names[c];
            if (!Json) Output.WriteLine($"model {ModelFile}{(kind == "model file" ? "" : $" ({kind})")}: {model.Spec} (input {input}, {model.Classes} classes){(Invert ? "; images inverted" : "")}");
            int width = Images.Max(i => i.Length);
            int failed = 0;
            foreach (string path in Images)
            {
                Prediction prediction;
                try
                {
                    prediction = model.Predict(ModelImage.Decode(ImageDecoder.ReadFile(path), path, input, Invert).Pixels);
                }
                catch (Exception e) when (CommandErrors.IsUserError(e))
                {
                    failed++;
                    if (Json) Terminal.WriteJsonLine(Output, new { File = path, Error = e.Message });
                    Error.WriteLine($"error: {e.Message}");
                    continue;
                }
                var best = prediction.Top(Top);
                if (Json)
                {
                    Terminal.WriteJsonLine(Output, new
                    {
                        File = path,
                        prediction.Class,
                        Name = names?[prediction.Class],
                        prediction.Probability,
                        Top = best.Select(b => new { b.Class, Name = names?[b.Class], b.Probability }),
                    });
                    continue;
                }
                string others = best.Count > 1 ? "   then " + string.Join(", ", best.Skip(1).Select(b => $"{Name(b.Class)} ({b.Probability:P2})")) : "";
                Output.WriteLine($"{path.PadRight(width)}  {Name(prediction.Class)}  ({prediction.Probability:P2}){others}");
            }
            Output.Flush();
            return failed == 0 ? 0 : CommandErrors.UserError;
        }
    }
}
