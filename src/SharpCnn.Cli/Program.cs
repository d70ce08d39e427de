Console.WriteLine("sharpcnn");
