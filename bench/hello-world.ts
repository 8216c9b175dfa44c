/** Hello world in each language of the catalog, printing exactly "hello" and a newline: for bench:languages and scripts/language-syscalls.ts. */
export const HELLO: Record<string, string> = {
  c: '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
  cpp: '#include <iostream>\nint main() { std::cout << "hello\\n"; }\n',
  cpp20: '#include <iostream>\nint main() { std::cout << "hello\\n"; }\n',
  python3: 'print("hello")\n',
  javascript: 'console.log("hello");\n',
  java: 'public class Main {\n  public static void main(String[] args) { System.out.println("hello"); }\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n',
  rust: 'fn main() { println!("hello"); }\n',
  bash: 'echo hello\n',
  ruby: 'puts "hello"\n',
  php: '<?php\necho "hello\\n";\n',
  lua: 'print("hello")\n',
  perl: 'print "hello\\n";\n',
  pascal: "begin\n  writeln('hello');\nend.\n",
  haskell: 'main :: IO ()\nmain = putStrLn "hello"\n',
};
