from config.dotenv import HEADER, development_secret_key, dotenv_read, dotenv_set


def test_a_developers_env_file_is_read_as_written_with_its_comments_and_quotes(tmp_path):
    """What a developer writes by hand in .env: a shell's `export`, quotes around a
    value with spaces, a value holding `=`, commented-out settings (indented too) and
    a stray word on a line of its own, none of which may reach the settings."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# PORT=9000\n"
        "    # DEBUG=false\n"
        "export ADMIN_EMAIL=me@example.com\n"
        "SITE_NAME='Daily Papers'\n"
        'EMAIL_SUBJECT_PREFIX="[Digest] "\n'
        'EMAIL_HOST_PASSWORD="pa55word""\n'
        "WEBHOOK_SECRET='hook:secret\n"
        "DATABASE_URL=postgres://digest@db/digest?sslmode=require\n"
        "oops\n"
    )

    assert dotenv_read(env_file) == {
        "ADMIN_EMAIL": "me@example.com",
        "SITE_NAME": "Daily Papers",
        "EMAIL_SUBJECT_PREFIX": "[Digest] ",
        "EMAIL_HOST_PASSWORD": 'pa55word"',
        "WEBHOOK_SECRET": "'hook:secret",
        "DATABASE_URL": "postgres://digest@db/digest?sslmode=require",
    }


def test_an_env_file_that_is_a_directory_reads_as_none(tmp_path):
    """`docker compose` bind-mounting a .env that does not exist makes a directory
    of that name: manage.py must still start, on the environment alone."""
    (tmp_path / ".env").mkdir()

    assert dotenv_read(tmp_path / ".env") == {}


def test_the_first_env_file_opens_with_a_header_saying_who_wrote_it(tmp_path):
    env_file = tmp_path / ".env"

    dotenv_set(env_file, {"DEBUG": "true", "PORT": "8101"})

    assert env_file.read_text() == HEADER + "DEBUG=true\nPORT=8101\n"


def test_the_development_secret_key_is_the_same_for_the_process_that_made_it_and_the_next(tmp_path):
    """web makes the key, the worker started next reads it: a key that differed by
    so much as a newline would sign links the web cannot verify."""
    var_dir = tmp_path / "not" / "yet" / "var"

    made = development_secret_key(var_dir)

    assert development_secret_key(var_dir) == made
